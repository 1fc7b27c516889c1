/*
 * libFuzzer harness for the C snapshot reader (recd_snap_parse) and the cache
 * lookups over whatever it accepts. Build:
 *   clang -g -O1 -fsanitize=fuzzer,address -D_GNU_SOURCE -I nss \
 *         nss/tests/fuzz_snapshot.c nss/recd_policy.c -o fuzz_snapshot
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "recd_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct recd_snap *s;
	if (recd_snap_parse((const char *)data, size, &s) != 0)
		return 0;
	/* walk everything the reader produced */
	size_t sum = 0;
	if (s->recorder)
		sum += strlen(s->recorder);
	if (s->tlog_conf)
		sum += strlen(s->tlog_conf);
	for (size_t i = 0; i < s->n_ents; i++) {
		const struct recd_ent *e = s->by_name[i];
		sum += strlen(e->name) + e->uid;
		if (e->record)
			sum += strlen(e->passwd) + strlen(e->gecos) + strlen(e->dir) + strlen(e->shell);
		if (i && strcmp(s->by_name[i - 1]->name, e->name) > 0)
			abort();
		if (i && s->by_uid[i - 1]->uid > s->by_uid[i]->uid)
			abort();
	}
	const struct recd_list *l[4] = {&s->users, &s->groups, &s->exusers, &s->exgroups};
	for (int j = 0; j < 4; j++)
		for (size_t i = 0; i < l[j]->n; i++)
			sum += strlen(l[j]->v[i]);
	if (sum == 1)
		s->len++;
	recd_snap_free(s);
	return 0;
}
