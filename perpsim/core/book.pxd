# Cython declarations for book.py, used only when setup.py compiles it ("pure Python mode":
# book.py stays plain Python, and is the module imported when the extension is not built).
# Keep in step with book.py: names declared here must exist there with the same meaning.
cimport cython as cy
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_SET_ITEM

cdef extern from "Python.h":
    object PyType_GenericAlloc(type cls, Py_ssize_t nitems)

cdef extern from *:
    """
    #ifndef BOOK_PY_SHA256
    #define BOOK_PY_SHA256 ""
    #endif
    """
    const char *BOOK_PY_SHA256      # of the book.py compiled (setup.py defines it)


cdef inline object _new(type cls, tuple values):
    """tuple.__new__(cls, values) for the book's NamedTuple events, without the call."""
    cdef Py_ssize_t i, n = PyTuple_GET_SIZE(values)
    cdef object ev = PyType_GenericAlloc(cls, n)
    cdef object item
    for i in range(n):
        item = <object>PyTuple_GET_ITEM(values, i)
        Py_INCREF(item)
        PyTuple_SET_ITEM(ev, i, item)
    return ev


cdef class OrderBook:
    cdef public object symbol, update_id, trade_id, _last_u
    cdef public dict _orders, _bids, _asks, _pbids, _pasks
    cdef public list _bheap, _aheap

    @cy.locals(oheap=list, olev=dict, opend=dict, events=list, orders=dict, lv=list,
                   q=list, h=Py_ssize_t, m=list, o=list, mylev=dict, mypend=dict, myheap=list)
    cpdef list place(self, order_id, owner, side, qty, price=*, tif=*, stp=*, reduce_only=*,
                     bound=*, _order=*)

    @cy.locals(lv=list, q=list)
    cpdef _unlink(self, list o)
