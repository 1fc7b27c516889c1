/* Placeholder NSS module: answers nothing, so the next source answers. */
#include <nss.h>
#include <pwd.h>
#include <stddef.h>

enum nss_status _nss_recd_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len, int *errnop);

enum nss_status _nss_recd_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len, int *errnop)
{
	(void)name; (void)pw; (void)buf; (void)len; (void)errnop;
	return NSS_STATUS_NOTFOUND;
}
