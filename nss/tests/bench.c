/*
 * bench — ns per getpwnam_r / getpwuid_r through the real glibc NSS, for one
 * recorded and one not-recorded user. nss/tests/run.sh bench runs it once with
 * "passwd: recd files" and once with "passwd: files" and prints the table.
 *
 *   bench RECORDED_USER OTHER_USER ITERATIONS
 * prints lines "<call> <user-kind> <ns/op>".
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void run(const char *kind, const char *name, long n)
{
	char buf[4096];
	struct passwd pw, *res;
	if (getpwnam_r(name, &pw, buf, sizeof buf, &res) || !res) {
		fprintf(stderr, "bench: %s not found\n", name);
		exit(1);
	}
	uid_t uid = pw.pw_uid;
	for (int i = 0; i < 1000; i++) /* warm up */
		getpwnam_r(name, &pw, buf, sizeof buf, &res);
	double t0 = now();
	for (long i = 0; i < n; i++)
		getpwnam_r(name, &pw, buf, sizeof buf, &res);
	double t1 = now();
	for (long i = 0; i < n; i++)
		getpwuid_r(uid, &pw, buf, sizeof buf, &res);
	double t2 = now();
	printf("getpwnam_r %s %.0f\n", kind, (t1 - t0) / n);
	printf("getpwuid_r %s %.0f\n", kind, (t2 - t1) / n);
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	long n = atol(argv[3]);
	run("recorded", argv[1], n);
	run("not-recorded", argv[2], n);
	return 0;
}
