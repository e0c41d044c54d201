/* freqload._core.Pool and Job (fl_pool_type.c), added to the module by fl_module.c. */
#ifndef FL_POOL_TYPE_H
#define FL_POOL_TYPE_H
#include <Python.h>
int fl_add_pool_types(PyObject *m);
#endif
