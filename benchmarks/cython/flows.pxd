# Augmenting declarations for tui/flows.py (Cython pure Python mode; bench_cython.py's typed
# trial): Flow as a C type, so the compiled engine reaches its counters as struct fields.
cdef class Flow:
    cdef public object key
    cdef public object proto
    cdef public long family
    cdef public object src
    cdef public long sport
    cdef public object dst
    cdef public long dport
    cdef public double first_seen
    cdef public double last_seen
    cdef public long ifindex
    cdef public long id
    cdef public bint a_low
    cdef public long long packets_ab
    cdef public long long bytes_ab
    cdef public long long packets_ba
    cdef public long long bytes_ba
    cdef public bint syn
    cdef public bint fin
    cdef public bint rst
    cdef public object app
    cdef public object use_case
    cdef public object reason
    cdef public object name
    cdef public bint decided
    cdef public long inspected
    cdef public object scratch
    cdef public object owner
    cdef public object stack
    cdef public object stack_rec
    cdef public object class_rec
