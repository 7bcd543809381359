# Augmenting declarations for tui/decode.py (bench_cython.py's typed trial): the fast path's
# header fields as C integers and the frame as bytes (C-level indexing).
import cython

@cython.locals(n=cython.Py_ssize_t, proto=cython.int, nxt=cython.int, hl=cython.long, total=cython.long,
               frag=cython.long, doff=cython.long, plen=cython.long, end=cython.Py_ssize_t)
cpdef tuple decode(bytes data, linktype=*)
