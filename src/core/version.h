/*
 * version.h - the one place the release is named; nowd --version and
 * nowctl --version print it.  A build may pass -DSG_VERSION="..." (e.g. from
 * git describe) to name the exact tree.
 */
#ifndef SG_CORE_VERSION_H
#define SG_CORE_VERSION_H

#ifndef SG_VERSION
#define SG_VERSION "0.12.0"
#endif

#endif
