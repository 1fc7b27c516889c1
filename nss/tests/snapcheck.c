/*
 * snapcheck — prints "ok" or "invalid" for each snapshot file given, using the
 * C reader; nss/tests/run.sh compares this with the Go decoder
 * (recd-snapshot -check) over the fuzzing corpus, so both accept the same files.
 */
#include <stdio.h>
#include <stdlib.h>

#include "recd_policy.h"

int main(int argc, char **argv)
{
	static char data[RECD_POLICY_MAX + 2];
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f)
			return 2;
		size_t n = fread(data, 1, sizeof data, f);
		fclose(f);
		struct recd_snap *s;
		int r = recd_snap_parse(data, n, &s);
		printf("%s %s\n", argv[i], r ? "invalid" : "ok");
		if (!r)
			recd_snap_free(s);
	}
	return 0;
}
