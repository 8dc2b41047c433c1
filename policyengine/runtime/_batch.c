/* policyengine._batch: the batch loop of a tabled policy, in C (optional; built when a C compiler is present).
 *
 * lookup_all(pairs, flat, paths, indexes, classes[, user]) -> (results, misses, keys)
 * lookup_stores(pairs, tables, fallback, store_path, paths, indexes, classes, user, store) -> (results, misses, keys)
 * order_ids(orders) -> (ids, others)
 *
 * lookup_stores is lookup_all for a policy set with store overrides whose tabled policies read their facts alike:
 * each pair's table is its store's, chosen by the store id read at store_path (an exact str through plain dicts);
 * anything else about the store is a miss, for the Python dispatch to decide. order_ids reads bulk's order ids.
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
    Py_ssize_t combinations;
    unsigned char roots[MAX_FACTS]; /* per fact: 0 the order, 1 the user */
    Py_ssize_t sizes[MAX_FACTS];    /* per fact: the size of its domain */
    Py_ssize_t defaults[MAX_FACTS]; /* per fact: the position of its default, or -1 when it has none */
    unsigned char roots_store;      /* lookup_stores: the store id's root */
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
lookup_in(PyObject *order, PyObject *user, const Spec *spec, PyObject *table, PyObject **key_out);

static PyObject *
lookup_one(PyObject *order, PyObject *user, const Spec *spec, PyObject **key_out)
{
    return lookup_in(order, user, spec, spec->flat, key_out);
}

/* lookup_one against `table`: a tuple, or a list of the same length whose entries may still be None (rows built on
 * first use by the Python path; a list of another length is never read: a miss). */
static PyObject *
lookup_in(PyObject *order, PyObject *user, const Spec *spec, PyObject *table, PyObject **key_out)
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
    PyObject *entry = NULL;
    if (hit && read == spec->facts) {
        if (PyTuple_CheckExact(table)) {
            entry = PyTuple_GET_ITEM(table, at);
        }
        else if (PyList_CheckExact(table) && PyList_GET_SIZE(table) == spec->combinations) {
            entry = PyList_GET_ITEM(table, at);
        }
    }
    if (entry != NULL && entry != Py_None) {
        result = entry;
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

/* Checks flat (a tuple, or NULL for lookup_stores, whose tables are checked on each read), paths, indexes and
 * classes once, into *spec. -1 with an exception set when they are malformed. */
static int
parse_spec(PyObject *flat, PyObject *paths, PyObject *indexes, PyObject *classes, Spec *spec, const char *name)
{
    spec->flat = flat != NULL ? flat : Py_None;
    spec->paths = paths;
    spec->indexes = indexes;
    spec->classes = classes;
    if ((flat != NULL && !PyTuple_CheckExact(flat)) || !PyTuple_CheckExact(paths) || !PyTuple_CheckExact(indexes)
        || !PyTuple_CheckExact(classes) || PyTuple_GET_SIZE(paths) > MAX_FACTS
        || PyTuple_GET_SIZE(indexes) != PyTuple_GET_SIZE(paths)
        || PyTuple_GET_SIZE(classes) != PyTuple_GET_SIZE(paths)) {
        PyErr_Format(PyExc_TypeError, "%s: %s must be tuples, the last three of one length (<= 64)", name,
                     flat != NULL ? "flat, paths, indexes and classes" : "paths, indexes and classes");
        return -1;
    }
    spec->facts = PyTuple_GET_SIZE(paths);
    Py_ssize_t combinations = 1;
    for (Py_ssize_t j = 0; j < spec->facts; j++) {
        PyObject *path = PyTuple_GET_ITEM(paths, j);
        if (!PyTuple_CheckExact(path) || PyTuple_GET_SIZE(path) < 1 || !PyLong_CheckExact(PyTuple_GET_ITEM(path, 0))) {
            PyErr_Format(PyExc_TypeError, "%s: each path must be a tuple (root, key, ...)", name);
            return -1;
        }
        Py_ssize_t root = PyLong_AsSsize_t(PyTuple_GET_ITEM(path, 0));
        if (root != 0 && root != 1) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "%s: a path's root must be 0 (order) or 1 (user)", name);
            return -1;
        }
        spec->roots[j] = (unsigned char)root;
        if (!PyType_Check(PyTuple_GET_ITEM(classes, j))) {
            PyErr_Format(PyExc_TypeError, "%s: each class must be a type", name);
            return -1;
        }
        PyObject *index = PyTuple_GET_ITEM(indexes, j);
        if (!PyDict_CheckExact(index)) {
            PyErr_Format(PyExc_TypeError, "%s: each index must be a dict", name);
            return -1;
        }
        PyObject *fallback = PyDict_GetItemWithError(index, Py_Ellipsis); /* borrowed; the default's position */
        if (fallback == NULL && PyErr_Occurred()) {
            return -1;
        }
        spec->sizes[j] = PyDict_GET_SIZE(index) - (fallback != NULL);
        spec->defaults[j] = -1;
        if (fallback != NULL) {
            Py_ssize_t p = PyLong_CheckExact(fallback) ? PyLong_AsSsize_t(fallback) : -1;
            if (p < 0 || p >= spec->sizes[j]) {
                PyErr_Clear();
                PyErr_Format(PyExc_ValueError, "%s: a default's position is outside its domain's range", name);
                return -1;
            }
            spec->defaults[j] = p;
        }
        /* every position must be an int in range, so that any lookup lands inside the table */
        PyObject *value, *position;
        Py_ssize_t pos = 0;
        while (PyDict_Next(index, &pos, &value, &position)) {
            Py_ssize_t p = PyLong_CheckExact(position) ? PyLong_AsSsize_t(position) : -1;
            if (p < 0 || p >= spec->sizes[j]) {
                PyErr_Clear();
                PyErr_Format(PyExc_ValueError, "%s: an index maps a value outside its domain's range", name);
                return -1;
            }
        }
        if (spec->sizes[j] > 0 && combinations > PY_SSIZE_T_MAX / spec->sizes[j]) {
            PyErr_Format(PyExc_OverflowError, "%s: too many combinations", name);
            return -1;
        }
        combinations *= spec->sizes[j];
    }
    spec->combinations = combinations;
    if (flat != NULL && combinations != PyTuple_GET_SIZE(flat)) {
        PyErr_Format(PyExc_ValueError, "%s: flat must hold one entry per combination of the indexes", name);
        return -1;
    }
    return 0;
}

#define SHAPE "policyengine._batch.shape"

static void
shape_free(PyObject *capsule)
{
    Spec *spec = PyCapsule_GetPointer(capsule, SHAPE);
    if (spec != NULL) {
        Py_XDECREF(spec->paths);
        Py_XDECREF(spec->indexes);
        Py_XDECREF(spec->classes);
        PyMem_Free(spec);
    }
}

/* shape(paths, indexes, classes) -> an opaque shape: how a store policy that reads other facts than the base reads
 * its own, checked once, for its entry (shape, rows) in lookup_stores' tables. */
static PyObject *
shape(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "shape(paths, indexes, classes) takes 3 arguments");
        return NULL;
    }
    Spec *spec = PyMem_Calloc(1, sizeof(Spec));
    if (spec == NULL) {
        return PyErr_NoMemory();
    }
    if (parse_spec(NULL, args[0], args[1], args[2], spec, "shape") < 0) {
        PyMem_Free(spec);
        return NULL;
    }
    Py_INCREF(spec->paths);
    Py_INCREF(spec->indexes);
    Py_INCREF(spec->classes);
    PyObject *capsule = PyCapsule_New(spec, SHAPE, shape_free);
    if (capsule == NULL) {
        Py_DECREF(spec->paths);
        Py_DECREF(spec->indexes);
        Py_DECREF(spec->classes);
        PyMem_Free(spec);
    }
    return capsule;
}

/* How lookup_stores chooses each pair's table: the store id's path, the tables by store id, the table of a store
 * without one, and (given) the one store every pair must name. */
typedef struct {
    PyObject *path;
    PyObject *tables;
    PyObject *fallback;
    PyObject *forced;
} Stores;

/* The entry of the table of the pair's store, as a new reference; NULL for a miss. Only an exact str read from plain
 * dicts chooses a table: any other store id (missing, of another type, an error on the way), a store whose table is
 * None (not built yet, or read another way), or another store than `forced`, is a miss without a key, decided by the
 * Python dispatch (which says what is wrong). A miss with facts keyed (see lookup_one) gets the key (store, key). */
static PyObject *
lookup_store(PyObject *order, PyObject *user, const Spec *spec, const Stores *stores, PyObject **key_out)
{
    PyObject *roots[2] = {order, user};
    int missing;
    *key_out = NULL;
    PyObject *store = follow(roots[spec->roots_store], stores->path, &missing);
    if (store == NULL) {
        return NULL;
    }
    PyObject *table = NULL;
    if (PyUnicode_CheckExact(store)) {
        if (stores->forced != NULL) {
            int same = PyUnicode_Compare(store, stores->forced) == 0; /* exact strs: no host code runs */
            if (!same) {
                PyErr_Clear();
                Py_DECREF(store);
                return NULL;
            }
        }
        table = PyDict_GetItemWithError(stores->tables, store); /* exact str keys: no host code either */
        if (table == NULL && !PyErr_Occurred()) {
            table = stores->fallback;
        }
    }
    if (table == NULL || table == Py_None) {
        Py_DECREF(store);
        return NULL;
    }
    Py_INCREF(table); /* held while read: the host could drop it from `tables` during the lookup */
    PyObject *key = NULL;
    PyObject *result = NULL;
    if (PyList_CheckExact(table)) {
        result = lookup_in(order, user, spec, table, &key);
    }
    else if (PyTuple_CheckExact(table) && PyTuple_GET_SIZE(table) == 2
             && PyCapsule_IsValid(PyTuple_GET_ITEM(table, 0), SHAPE) && PyList_CheckExact(PyTuple_GET_ITEM(table, 1))) {
        /* a store read its own way: (shape, rows); its misses are keyed by its own facts */
        const Spec *own = PyCapsule_GetPointer(PyTuple_GET_ITEM(table, 0), SHAPE);
        result = lookup_in(order, user, own, PyTuple_GET_ITEM(table, 1), &key);
    }
    Py_DECREF(table);
    if (key != NULL && stores->forced == NULL) {
        *key_out = PyTuple_Pack(2, store, key);
        if (*key_out == NULL) {
            PyErr_Clear(); /* no key: the miss is decided on its own */
        }
    }
    Py_XDECREF(key);
    Py_DECREF(store);
    return result;
}

/* The loop shared by lookup_all and lookup_stores (stores NULL: one table, spec->flat). */
static PyObject *
run(PyObject *pairs, PyObject *one_user, const Spec *spec, const Stores *stores, const char *name)
{
    if (!PyList_CheckExact(pairs)) {
        PyErr_Format(PyExc_TypeError, "%s: pairs must be a list", name);
        return NULL;
    }
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
            PyObject *order = NULL, *user = NULL;
            Py_INCREF(item); /* held while read: its tuple items (order, user) live as long as it does */
            if (one_user != NULL) {
                order = item;
                user = one_user;
            }
            else if (PyTuple_CheckExact(item) && PyTuple_GET_SIZE(item) == 2) {
                order = PyTuple_GET_ITEM(item, 0);
                user = PyTuple_GET_ITEM(item, 1);
            }
            if (order != NULL) {
                hit = stores != NULL ? lookup_store(order, user, spec, stores, &key) : lookup_one(order, user, spec, &key);
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

static PyObject *
lookup_all(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 && nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "lookup_all(pairs, flat, paths, indexes, classes[, user]) takes 5 or 6 "
                                         "arguments");
        return NULL;
    }
    Spec spec;
    if (parse_spec(args[1], args[2], args[3], args[4], &spec, "lookup_all") < 0) {
        return NULL;
    }
    return run(args[0], nargs == 6 ? args[5] : NULL, &spec, NULL, "lookup_all");
}

static PyObject *
lookup_stores(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "lookup_stores(pairs, tables, fallback, store_path, paths, indexes, classes, "
                                         "user, store) takes 9 arguments");
        return NULL;
    }
    Spec spec;
    if (parse_spec(NULL, args[4], args[5], args[6], &spec, "lookup_stores") < 0) {
        return NULL;
    }
    Stores stores = {args[3], args[1], args[2], args[8] != Py_None ? args[8] : NULL};
    PyObject *path = stores.path;
    if (!PyDict_CheckExact(stores.tables)) {
        PyErr_SetString(PyExc_TypeError, "lookup_stores: tables must be a dict");
        return NULL;
    }
    if (!PyTuple_CheckExact(path) || PyTuple_GET_SIZE(path) < 1 || !PyLong_CheckExact(PyTuple_GET_ITEM(path, 0))) {
        PyErr_SetString(PyExc_TypeError, "lookup_stores: the store path must be a tuple (root, key, ...)");
        return NULL;
    }
    Py_ssize_t root = PyLong_AsSsize_t(PyTuple_GET_ITEM(path, 0));
    if (root != 0 && root != 1) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "lookup_stores: a path's root must be 0 (order) or 1 (user)");
        return NULL;
    }
    spec.roots_store = (unsigned char)root;
    if (stores.forced != NULL && !PyUnicode_CheckExact(stores.forced)) {
        PyErr_SetString(PyExc_TypeError, "lookup_stores: store must be a str or None");
        return NULL;
    }
    return run(args[0], args[7] != Py_None ? args[7] : NULL, &spec, &stores, "lookup_stores");
}

/* Each order's id as bulk names it (the default adapter's order_ids): for a plain dict, its "id" when that is an
 * exact str (itself) or an exact int of at most 256 bits (its decimal text), None when it has no "id"; every other
 * order (not a plain dict, an id of another type) is listed in `others`, its id None, for the Python path. */
/* Whether an exact int fits 64 bits (larger ones, rare as ids, go to the Python path with its own bound). */
static int
fits(PyObject *value)
{
    int overflow = 0;
    PyLong_AsLongLongAndOverflow(value, &overflow);
    return overflow == 0;
}

static PyObject *
order_ids(PyObject *module, PyObject *orders)
{
    if (!PyList_CheckExact(orders)) {
        PyErr_SetString(PyExc_TypeError, "order_ids: orders must be a list");
        return NULL;
    }
    PyObject *name = PyUnicode_InternFromString("id");
    Py_ssize_t n = PyList_GET_SIZE(orders);
    PyObject *ids = PyList_New(n);
    PyObject *others = PyList_New(0);
    if (name == NULL || ids == NULL || others == NULL) {
        goto error;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *id = NULL;
        int known = 0;
        if (i < PyList_GET_SIZE(orders)) {
            PyObject *order = PyList_GET_ITEM(orders, i);
            Py_INCREF(order);
            if (PyDict_CheckExact(order)) {
                PyObject *value = PyDict_GetItemWithError(order, name);
                Py_XINCREF(value);
                if (value == NULL) {
                    if (!PyErr_Occurred()) {
                        known = 1; /* no id: named by its position */
                    }
                    else if (miss_or_fail() < 0) {
                        Py_DECREF(order);
                        goto error;
                    }
                }
                else if (PyUnicode_CheckExact(value)) {
                    id = value;
                    Py_INCREF(id);
                    known = 1;
                }
                else if (PyLong_CheckExact(value) && fits(value)) {
                    id = PyObject_Str(value);
                    if (id == NULL) {
                        Py_DECREF(value);
                        Py_DECREF(order);
                        goto error;
                    }
                    known = 1;
                }
                else if (value == Py_None) {
                    known = 1;
                }
                Py_XDECREF(value);
            }
            Py_DECREF(order);
        }
        if (!known) {
            PyObject *index = PyLong_FromSsize_t(i);
            if (index == NULL || PyList_Append(others, index) < 0) {
                Py_XDECREF(index);
                goto error;
            }
            Py_DECREF(index);
        }
        if (id == NULL) {
            Py_INCREF(Py_None);
            id = Py_None;
        }
        PyList_SET_ITEM(ids, i, id);
    }
    Py_DECREF(name);
    return Py_BuildValue("(NN)", ids, others);

error:
    Py_XDECREF(name);
    Py_XDECREF(ids);
    Py_XDECREF(others);
    return NULL;
}

static PyMethodDef methods[] = {
    {"lookup_all", (PyCFunction)(void (*)(void))lookup_all, METH_FASTCALL,
     "lookup_all(pairs, flat, paths, indexes, classes[, user]) -> (results, misses, keys): the table entry of each "
     "(order, user) pair (or each order, with user) whose facts are all read through plain dicts and valid, None and "
     "its index in misses for every other one (with, in keys, what the Python path decides it from, or None)."},
    {"lookup_stores", (PyCFunction)(void (*)(void))lookup_stores, METH_FASTCALL,
     "lookup_stores(pairs, tables, fallback, store_path, paths, indexes, classes, user, store) -> (results, misses, "
     "keys): lookup_all where each pair's table is its store's (tables[store id], fallback for a store without one), "
     "the store id read at store_path as an exact str; a list table's None entries are misses. user None: pairs; "
     "store None: any store, else only pairs of that store are answered."},
    {"shape", (PyCFunction)(void (*)(void))shape, METH_FASTCALL,
     "shape(paths, indexes, classes) -> shape: a store policy's own way of reading its facts, for its (shape, rows) "
     "entry in lookup_stores' tables."},
    {"order_ids", (PyCFunction)order_ids, METH_O,
     "order_ids(orders) -> (ids, others): each plain-dict order's id as text (a str, or an int's decimal text), "
     "None without one; the indexes of every other order, left to the Python path."},
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
