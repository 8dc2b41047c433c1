/* policyengine._batch: the batch loop of a tabled policy, in C (optional; built when a C compiler is present).
 *
 * lookup_all(pairs, flat, paths, indexes, classes[, user]) -> (results, misses, keys)
 *
 * For each (order, user) pair of the list `pairs` (or, given `user`, each order of the list `pairs` with that user),
 * reads every fact along its path through plain dicts only, checks that each value's class is exactly `classes[j]`
 * (policyengine/runtime/values.py: EXACT; no subclass, no look-alike that compares and hashes equal to a declared
 * value, and nothing host-defined runs in the lookup), turns each value into its position in the fact's
 * domain (`indexes[j]`, a dict value -> position) and returns the entry of `flat` at the mixed-radix number of those
 * positions (`flat` holds the Decisions of every fact combination, in itertools.product order of the domains, or
 * None for a combination whose conditions raise: a miss).
 * `results[i]` is that Decisions, or None when pair i is anything else: not a 2-tuple, a root or a nested value that
 * is not a plain dict, a missing key, a value of the wrong type, an undeclared value, an unhashable value. `misses`
 * lists those indexes, in order, and `keys` the key of each miss (see lookup_one; None for a miss that has none); the
 * caller decides them with the generated Python evaluate, which says what is
 * wrong. So this loop only ever returns what the Python fast path would return for the same input, and never decides
 * a bad fact itself. Values the Python path normalises (a Decimal, an enum.Enum member, a str subclass: see
 * values.py check_value) are not of an exact class: they are misses too, decided there, so both agree on them.
 *
 * paths[j] is (root, key, key, ...) for fact j, root 0 for the order and 1 for the user.
 *
 * A fact with a declared `default:` has one more entry in its index: Ellipsis -> the position of the default. A key
 * absent from a plain dict on the fact's path then reads as that value (as the Python path reads it); it is not
 * counted in the domain's size. Ellipsis itself can never be looked up as a value: its class is no fact's class.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* After a failed lookup: 0 to treat the pair as a miss (no error, or an ordinary exception raised by host code such
 * as a key's __eq__, which the Python path will meet again), -1 to stop (KeyboardInterrupt, MemoryError, ...). */
static int
miss_or_fail(void)
{
    if (!PyErr_Occurred()) {
        return 0;
    }
    if (PyErr_ExceptionMatches(PyExc_Exception) && !PyErr_ExceptionMatches(PyExc_MemoryError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* The value at `path` (its keys from index 1 on) from `root`, as a new reference; NULL for a miss (see
 * miss_or_fail), with *missing set when the miss is a key absent from a plain dict (the fact is missing). */
static PyObject *
follow(PyObject *root, PyObject *path, int *missing)
{
    Py_ssize_t length = PyTuple_GET_SIZE(path);
    PyObject *current = root;
    *missing = 0;
    Py_INCREF(current);
    for (Py_ssize_t i = 1; i < length; i++) {
        if (!PyDict_CheckExact(current)) {
            Py_DECREF(current);
            return NULL;
        }
        PyObject *next = PyDict_GetItemWithError(current, PyTuple_GET_ITEM(path, i));
        Py_XINCREF(next); /* borrowed: hold it before anything else can run */
        Py_DECREF(current);
        if (next == NULL) {
            *missing = !PyErr_Occurred();
            return NULL;
        }
        current = next;
    }
    return current;
}

#define MAX_FACTS 64

/* What lookup_all checked once about its arguments, for each pair. */
typedef struct {
    PyObject *flat;
    PyObject *paths;
    PyObject *indexes;
    PyObject *classes;
    Py_ssize_t facts;
    unsigned char roots[MAX_FACTS]; /* per fact: 0 the order, 1 the user */
    Py_ssize_t sizes[MAX_FACTS];    /* per fact: the size of its domain */
    Py_ssize_t defaults[MAX_FACTS]; /* per fact: the position of its default, or -1 when it has none */
} Spec;

/* The flat table's entry for one order and user, as a new reference; NULL for a miss (see miss_or_fail). The
 * caller holds references to both.
 *
 * A miss read entirely through plain dicts whose facts are each missing or an exact str, int or bool or None gets a
 * key in *key_out: (value or Ellipsis, its class or None for missing, ...) per fact. The Python path decides inputs
 * with equal keys alike (the same facts missing, the same values of the same classes; hashing and comparing these
 * runs no host code), so the caller decides each key once: bad data in a batch costs about what good data costs.
 * Any other miss leaves *key_out NULL. */
static PyObject *
lookup_one(PyObject *order, PyObject *user, const Spec *spec, PyObject **key_out)
{
    PyObject *roots[2] = {order, user};
    PyObject *leaves[MAX_FACTS];
    PyObject *result = NULL;
    Py_ssize_t at = 0, read = 0;
    int hit = 1, keyable = 1;
    *key_out = NULL;
    for (Py_ssize_t j = 0; j < spec->facts; j++) {
        int missing;
        PyObject *value = follow(roots[spec->roots[j]], PyTuple_GET_ITEM(spec->paths, j), &missing);
        leaves[j] = value;
        read = j + 1;
        if (value == NULL && missing && spec->defaults[j] >= 0) {
            at = at * spec->sizes[j] + spec->defaults[j]; /* absent: the declared default (a key for a miss) */
            continue;
        }
        if (value == NULL) {
            hit = 0;
            if (!missing) {
                keyable = 0; /* not plain dicts all the way, or an error: neither a hit nor a key */
                break;
            }
            continue;
        }
        PyTypeObject *cls = Py_TYPE(value);
        if (cls != &PyUnicode_Type && cls != &PyLong_Type && cls != &PyBool_Type && value != Py_None) {
            keyable = 0;
        }
        if (!hit || (PyObject *)cls != PyTuple_GET_ITEM(spec->classes, j)) {
            hit = 0; /* 1 equals True, a str subclass may equal 'admin': not exact, so not ours to decide */
            if (!keyable) {
                break;
            }
            continue;
        }
        PyObject *position = PyDict_GetItemWithError(PyTuple_GET_ITEM(spec->indexes, j), value);
        if (position == NULL) {
            hit = 0; /* an undeclared value (exact classes hash and compare without host code) */
            if (PyErr_Occurred()) {
                keyable = 0;
                break;
            }
            continue;
        }
        at = at * spec->sizes[j] + PyLong_AsSsize_t(position);
    }
    /* a combination whose conditions raise is None in the table: a miss, decided (and keyed) like any other */
    if (hit && read == spec->facts && PyTuple_GET_ITEM(spec->flat, at) != Py_None) {
        result = PyTuple_GET_ITEM(spec->flat, at);
        Py_INCREF(result);
    }
    else if (keyable && read == spec->facts && (*key_out = PyTuple_New(2 * spec->facts)) != NULL) {
        for (Py_ssize_t j = 0; j < spec->facts; j++) {
            PyObject *value = leaves[j] != NULL ? leaves[j] : Py_Ellipsis;
            PyObject *cls = leaves[j] != NULL ? (PyObject *)Py_TYPE(leaves[j]) : Py_None;
            Py_INCREF(value);
            Py_INCREF(cls);
            PyTuple_SET_ITEM(*key_out, 2 * j, value);
            PyTuple_SET_ITEM(*key_out, 2 * j + 1, cls);
        }
    }
    for (Py_ssize_t j = 0; j < read; j++) {
        Py_XDECREF(leaves[j]);
    }
    return result;
}

static PyObject *
lookup_all(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 && nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "lookup_all(pairs, flat, paths, indexes, classes[, user]) takes 5 or 6 "
                                         "arguments");
        return NULL;
    }
    PyObject *one_user = nargs == 6 ? args[5] : NULL; /* given: `pairs` holds orders, all for this user */
    Spec spec = {args[1], args[2], args[3], args[4], 0, {0}, {0}, {0}};
    if (!PyTuple_CheckExact(spec.flat) || !PyTuple_CheckExact(spec.paths) || !PyTuple_CheckExact(spec.indexes)
        || !PyTuple_CheckExact(spec.classes) || PyTuple_GET_SIZE(spec.paths) > MAX_FACTS
        || PyTuple_GET_SIZE(spec.indexes) != PyTuple_GET_SIZE(spec.paths)
        || PyTuple_GET_SIZE(spec.classes) != PyTuple_GET_SIZE(spec.paths)) {
        PyErr_SetString(PyExc_TypeError, "lookup_all: flat, paths, indexes and classes must be tuples, the last three "
                                         "of one length (<= 64)");
        return NULL;
    }
    spec.facts = PyTuple_GET_SIZE(spec.paths);
    Py_ssize_t combinations = 1;
    for (Py_ssize_t j = 0; j < spec.facts; j++) {
        PyObject *path = PyTuple_GET_ITEM(spec.paths, j);
        if (!PyTuple_CheckExact(path) || PyTuple_GET_SIZE(path) < 1 || !PyLong_CheckExact(PyTuple_GET_ITEM(path, 0))) {
            PyErr_SetString(PyExc_TypeError, "lookup_all: each path must be a tuple (root, key, ...)");
            return NULL;
        }
        Py_ssize_t root = PyLong_AsSsize_t(PyTuple_GET_ITEM(path, 0));
        if (root != 0 && root != 1) {
            PyErr_SetString(PyExc_ValueError, "lookup_all: a path's root must be 0 (order) or 1 (user)");
            return NULL;
        }
        spec.roots[j] = (unsigned char)root;
        if (!PyType_Check(PyTuple_GET_ITEM(spec.classes, j))) {
            PyErr_SetString(PyExc_TypeError, "lookup_all: each class must be a type");
            return NULL;
        }
        PyObject *index = PyTuple_GET_ITEM(spec.indexes, j);
        if (!PyDict_CheckExact(index)) {
            PyErr_SetString(PyExc_TypeError, "lookup_all: each index must be a dict");
            return NULL;
        }
        PyObject *fallback = PyDict_GetItemWithError(index, Py_Ellipsis); /* borrowed; the default's position */
        if (fallback == NULL && PyErr_Occurred()) {
            return NULL;
        }
        spec.sizes[j] = PyDict_GET_SIZE(index) - (fallback != NULL);
        spec.defaults[j] = -1;
        if (fallback != NULL) {
            Py_ssize_t p = PyLong_CheckExact(fallback) ? PyLong_AsSsize_t(fallback) : -1;
            if (p < 0 || p >= spec.sizes[j]) {
                PyErr_SetString(PyExc_ValueError, "lookup_all: a default's position is outside its domain's range");
                return NULL;
            }
            spec.defaults[j] = p;
        }
        /* every position must be an int in range, so that any lookup lands inside flat */
        PyObject *value, *position;
        Py_ssize_t pos = 0;
        while (PyDict_Next(index, &pos, &value, &position)) {
            Py_ssize_t p = PyLong_CheckExact(position) ? PyLong_AsSsize_t(position) : -1;
            if (p < 0 || p >= spec.sizes[j]) {
                PyErr_SetString(PyExc_ValueError, "lookup_all: an index maps a value outside its domain's range");
                return NULL;
            }
        }
        if (spec.sizes[j] > 0 && combinations > PY_SSIZE_T_MAX / spec.sizes[j]) {
            PyErr_SetString(PyExc_OverflowError, "lookup_all: too many combinations");
            return NULL;
        }
        combinations *= spec.sizes[j];
    }
    if (combinations != PyTuple_GET_SIZE(spec.flat)) {
        PyErr_SetString(PyExc_ValueError, "lookup_all: flat must hold one entry per combination of the indexes");
        return NULL;
    }
    if (!PyList_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "lookup_all: pairs must be a list");
        return NULL;
    }
    PyObject *pairs = args[0];
    Py_ssize_t n = PyList_GET_SIZE(pairs);
    PyObject *results = PyList_New(n);
    PyObject *misses = PyList_New(0);
    PyObject *keys = PyList_New(0);
    if (results == NULL || misses == NULL || keys == NULL) {
        goto error;
    }
    /* Host code can run during a lookup (a key's __eq__) and could change `pairs`: each pair is held while it is
     * read, and the length is checked again on every step. Pairs past a shortened end stay None (misses). */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *hit = NULL;
        PyObject *key = NULL;
        if (i < PyList_GET_SIZE(pairs)) {
            PyObject *item = PyList_GET_ITEM(pairs, i);
            Py_INCREF(item); /* held while read: its tuple items (order, user) live as long as it does */
            if (one_user != NULL) {
                hit = lookup_one(item, one_user, &spec, &key);
            }
            else if (PyTuple_CheckExact(item) && PyTuple_GET_SIZE(item) == 2) {
                hit = lookup_one(PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1), &spec, &key);
            }
            Py_DECREF(item);
        }
        if (hit == NULL) {
            if (miss_or_fail() < 0) {
                Py_XDECREF(key);
                goto error;
            }
            PyObject *index = PyLong_FromSsize_t(i);
            if (index == NULL) {
                Py_XDECREF(key);
                goto error;
            }
            int appended = PyList_Append(misses, index);
            Py_DECREF(index);
            if (appended == 0) {
                appended = PyList_Append(keys, key != NULL ? key : Py_None);
            }
            Py_XDECREF(key);
            if (appended < 0) {
                goto error;
            }
            Py_INCREF(Py_None);
            hit = Py_None;
        }
        PyList_SET_ITEM(results, i, hit);
    }
    return Py_BuildValue("(NNN)", results, misses, keys);

error:
    Py_XDECREF(results);
    Py_XDECREF(misses);
    Py_XDECREF(keys);
    return NULL;
}

static PyMethodDef methods[] = {
    {"lookup_all", (PyCFunction)(void (*)(void))lookup_all, METH_FASTCALL,
     "lookup_all(pairs, flat, paths, indexes, classes[, user]) -> (results, misses, keys): the table entry of each "
     "(order, user) pair (or each order, with user) whose facts are all read through plain dicts and valid, None and "
     "its index in misses for every other one (with, in keys, what the Python path decides it from, or None)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "policyengine._batch",
    "The batch loop of a tabled policy, in C (optional: policyengine works the same without it).", -1, methods,
};

PyMODINIT_FUNC
PyInit__batch(void)
{
    return PyModule_Create(&module);
}
