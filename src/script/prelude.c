/*
 * prelude.c - prelude.js as a C string (the Makefile makes prelude.inc).
 */
#include "script/internal.h"

const char sg__script_prelude[] =
#include "prelude.inc"
    ;
