/*
 * libnss_recd.so.2 — the "recd" passwd source (nsswitch.conf: passwd: recd files).
 *
 * For a user the policy records, getpwnam_r/getpwuid_r answer the user's real
 * entry with pw_shell replaced by the recorder; for everyone else the module
 * answers NSS_STATUS_NOTFOUND so the next source answers unchanged. The module
 * never enumerates (no setpwent/getpwent_r/endpwent), never talks to the
 * daemon, reads no environment variable and never makes a lookup fail.
 *
 * Real entries of users the snapshot's cache does not cover are read from the
 * sources after recd by calling getpwnam_r/getpwuid_r with a thread-local
 * recursion guard set: the nested call reaches this module again, sees the
 * guard and answers NOTFOUND, so the next sources answer it.
 *
 * Exported: _nss_recd_getpwnam_r, _nss_recd_getpwuid_r (the NSS interface) and
 * _nss_recd_real_getpwnam_r, which pam_recd.so calls (through dlopen) to read a
 * user's real entry with this module's guard set.
 */
#include <errno.h>
#include <nss.h>
#include <pwd.h>
#include <stddef.h>

#include "recd_policy.h"

static __thread int guard;

static int real_lookup(const char *name, uid_t uid, struct passwd *pw, char *buf, size_t len,
		       struct passwd **res)
{
	/* guard is set by the caller for the whole module call */
	return name ? getpwnam_r(name, pw, buf, len, res) : getpwuid_r(uid, pw, buf, len, res);
}

static enum nss_status answer(const char *name, uid_t uid, struct passwd *pw, char *buf,
			      size_t len, int *errnop)
{
	if (guard)
		return NSS_STATUS_NOTFOUND;
	int saved = errno;
	guard = 1;
	int r = recd_lookup(name, uid, pw, buf, len, 1, real_lookup, NULL, NULL);
	guard = 0;
	errno = saved;
	switch (r) {
	case RECD_YES:
		return NSS_STATUS_SUCCESS;
	case RECD_ERANGE:
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	}
	return NSS_STATUS_NOTFOUND;
}

RECD_EXPORT enum nss_status _nss_recd_getpwnam_r(const char *name, struct passwd *pw, char *buf,
						 size_t len, int *errnop);
RECD_EXPORT enum nss_status _nss_recd_getpwuid_r(uid_t uid, struct passwd *pw, char *buf,
						 size_t len, int *errnop);
RECD_EXPORT int _nss_recd_real_getpwnam_r(const char *name, struct passwd *pw, char *buf,
					  size_t len, struct passwd **res);

enum nss_status _nss_recd_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len,
				     int *errnop)
{
	if (!name)
		return NSS_STATUS_NOTFOUND;
	return answer(name, 0, pw, buf, len, errnop);
}

enum nss_status _nss_recd_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len,
				     int *errnop)
{
	return answer(NULL, uid, pw, buf, len, errnop);
}

/* getpwnam_r as answered by the sources other than recd: the real entry. */
int _nss_recd_real_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len,
			      struct passwd **res)
{
	int old = guard;
	guard = 1;
	int r = getpwnam_r(name, pw, buf, len, res);
	guard = old;
	return r;
}
