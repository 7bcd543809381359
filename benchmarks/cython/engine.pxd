# Augmenting declarations for tui/engine.py (bench_cython.py's typed trial): Engine as a C
# type (every attribute declared), its per-packet loop with C-typed locals and the flow typed.
import cython
from tui.flows cimport Flow

cdef class Engine:
    cdef public object classifier, _lock, _flow_cap, _idle_timeout, _ring_size, _series_len
    cdef public object _thread, _stop, _source, source_kind, source_name, bpf, state, message
    cdef public object _next_flow_id, _ended_wall, new_flows, retired, retired_lost, _handed_id
    cdef public object table, _retired_hosts, ring, _ring_flows, packets, malformed
    cdef public object _stacks, _classes, _uc_series, _series, _series_start, _cur_sec, _next_ns
    cdef public object _cur, _next_sweep, first_ts, last_ts, started_wall, _kernel_base, _kernel
    cdef public object fragments, _orphan_moves

    @cython.locals(flow=Flow, from_src=bint, low=bint, payload_only=bint, sweep=bint,
                   in_p=cython.longlong, in_b=cython.longlong, out_p=cython.longlong, out_b=cython.longlong,
                   malformed=cython.long, inspected=cython.long, flags=cython.long, status=cython.long,
                   ts=cython.double)
    cpdef _process(self, frames)
