#!/bin/sh
# C module tests for libnss_recd.so.2 and pam_recd.so, through the real glibc
# NSS and libpam, inside a private mount namespace (the host's /etc is never
# touched: test copies of /etc/passwd, /etc/group and /etc/nsswitch.conf are
# bind-mounted over the originals in the namespace only, and /var/lib is a
# tmpfs there).
#
#   nss/tests/run.sh test     functional, ERANGE, stress (64 x 10,000), fork, PAM,
#                             valgrind, symbol checks, bounded fuzzing
#   nss/tests/run.sh soak     stress again plus 2000 lookup-fork-lookup rounds
#   nss/tests/run.sh bench    ns per lookup: "recd files" vs "files"
#
# Needs root (unshare -m, mount); without it, says so and skips.
# FUZZ_SECONDS (default 20) bounds the libFuzzer run.
set -eu
MODE=${1:-test}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=$ROOT/build
T=$B/ctest
REC=/usr/bin/recd-session
TLOGREC=/usr/bin/tlog-rec-session

step_start() { STEP=$1; STEP_T0=$(date +%s.%N); }
step_end() { awk -v s="$STEP" -v a="$STEP_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "  %-44s %6.2f s\n", s, b - a }'; }

if [ "${RECD_CTEST_INNER:-}" != 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "nss/tests/run.sh: not root, C module tests skipped (they need unshare -m)"
		exit 0
	fi
	CC=${CC:-cc}
	GO=${GO:-go}
	rm -rf "$T"
	mkdir -p "$T/etc" "$T/pam.d" "$T/seeds" "$T/corpus"
	step_start "build test programs"
	$CC -O2 -g -Wall -Wextra -Werror -pthread -o "$T/nss_test" "$ROOT/nss/tests/nss_test.c"
	$CC -O2 -g -Wall -Wextra -Werror -o "$T/pam_test" "$ROOT/pam/tests/pam_test.c" -lpam
	$CC -O2 -g -Wall -Wextra -Werror -o "$T/bench" "$ROOT/nss/tests/bench.c"
	(cd "$ROOT" && $GO build -o "$T/recd-snapshot" ./internal/snapshot/cmd/recd-snapshot)
	step_end

	cat >"$T/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/bash
alice:x:1001:1001:Alice:/home/alice:/bin/bash
bob:x:1002:2000:Bob:/home/bob:/bin/sh
carol:x:1003:1003:Carol:/home/carol:/bin/dash
dave:x:1004:1004:Dave:/home/dave:/bin/bash
eve:x:1005:1005:Eve:/home/eve:/bin/bash
frank:x:1006:1006:Frank Long Gecos Field For Buffer Tests,,,:/home/frank:/usr/bin/zsh-test
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
	cat >"$T/etc/group" <<'EOF'
root:x:0:
adm:x:4:carol,frank
alice:x:1001:
carol:x:1003:
dave:x:1004:
eve:x:1005:
frank:x:1006:
rec:x:2000:
ops:x:2001:carol
nogroup:x:65534:
EOF
	# For the benchmark: the host's own passwd/group (a realistic size) with
	# the test users appended, as real users follow the system ones.
	{ grep -v -E '^(alice|bob|carol|dave|eve|frank):' /etc/passwd || true; grep -v -E '^(root|nobody):' "$T/etc/passwd"; } >"$T/etc/passwd.bench"
	{ grep -v -E '^(adm|alice|carol|dave|eve|frank|rec|ops):' /etc/group || true; grep -v -E '^(root|nogroup):' "$T/etc/group"; } >"$T/etc/group.bench"
	printf 'passwd: recd files\ngroup: files\nshadow: files\nhosts: files\n' >"$T/etc/nsswitch.conf"
	printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' >"$T/etc/nsswitch.files"
	printf 'session optional %s debug\nsession optional pam_permit.so\n' "$B/pam_recd.so" >"$T/pam.d/recd-test"

	if [ "$MODE" = test ]; then
		step_start "symbol versions, DF_1_NODELETE"
		sh "$ROOT/nss/tests/check_symbols.sh" "$B/libnss_recd.so.2" "$B/pam_recd.so"
		step_end
	fi
	RECD_CTEST_INNER=1 unshare -m sh "$0" "$MODE"
	if [ "$MODE" = test ]; then
		step_start "libFuzzer snapshot reader (${FUZZ_SECONDS:-20} s)"
		clang -g -O1 -fsanitize=fuzzer,address -D_GNU_SOURCE -I "$ROOT/nss" \
			"$ROOT/nss/tests/fuzz_snapshot.c" "$ROOT/nss/recd_policy.c" -o "$T/fuzz_snapshot"
		"$T/recd-snapshot" -out "$T/seeds/some" -passwd "$T/etc/passwd" -group "$T/etc/group" \
			-scope some -users alice,frank -groups rec,ops -recorder $REC
		"$T/recd-snapshot" -out "$T/seeds/all" -passwd "$T/etc/passwd" -group "$T/etc/group" \
			-scope all -exclude-users dave -exclude-groups adm -recorder $TLOGREC \
			-tlog-conf '{"writer":"journal",
"journal":{"priority":"info"}}'
		"$T/recd-snapshot" -out "$T/seeds/none" -scope none -recorder $REC
		"$T/recd-snapshot" -out "$T/seeds/nocache" -scope some -groups rec -no-cache \
			-passwd "$T/etc/passwd" -group "$T/etc/group" -recorder $REC
		cp "$T/seeds/"* "$T/corpus/"
		(cd "$T" && ./fuzz_snapshot -max_total_time="${FUZZ_SECONDS:-20}" -max_len=4096 \
			-print_final_stats=0 corpus >fuzz.log 2>&1) || { tail -30 "$T/fuzz.log"; exit 1; }
		grep -E '^#[0-9]+.*DONE' "$T/fuzz.log" | tail -1 || true
		step_end
		step_start "C reader and Go decoder agree on corpus"
		$CC -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -I "$ROOT/nss" -o "$T/snapcheck" \
			"$ROOT/nss/tests/snapcheck.c" "$ROOT/nss/recd_policy.c" -pthread
		(cd "$T" && ./snapcheck corpus/* seeds/* >check-c.out && ./recd-snapshot -check corpus/* seeds/* >check-go.out)
		if ! cmp -s "$T/check-c.out" "$T/check-go.out"; then
			echo "FAIL: C reader and Go Decode disagree:"; diff "$T/check-c.out" "$T/check-go.out" | head; exit 1
		fi
		echo "  $(grep -c ' ok$' "$T/check-c.out") valid and $(grep -c ' invalid$' "$T/check-c.out") invalid inputs judged alike"
		step_end
	fi
	echo "C module tests ($MODE): PASS"
	exit 0
fi

# ---- inside the private mount namespace ----
mount --make-rprivate /
mount --bind "$T/etc/nsswitch.conf" /etc/nsswitch.conf
mount -t tmpfs tmpfs /var/lib
mkdir -p /var/lib/recd
export LD_LIBRARY_PATH="$B" # glibc's NSS dlopen and pam_recd's dlopen honour it (not setuid)
P=/var/lib/recd/policy
snap() { "$T/recd-snapshot" -out $P "$@"; }
nt() { "$T/nss_test" "$@"; }

if [ "$MODE" = bench ]; then
	mount --bind "$T/etc/passwd.bench" /etc/passwd
	mount --bind "$T/etc/group.bench" /etc/group
	snap -scope some -users alice -groups rec,ops -recorder $REC # bob: recorded by group rec
	N=${BENCH_ITERS:-200000}
	"$T/bench" bob dave "$N" >"$T/bench.recd"
	mount --bind "$T/etc/nsswitch.files" /etc/nsswitch.conf
	"$T/bench" bob dave "$N" >"$T/bench.files"
	echo "ns per call, $N calls each; policy: scope=some users=alice groups=rec,ops; passwd $(wc -l </etc/passwd) lines"
	printf '%-11s %-13s %10s %10s %8s %s\n' call user "recd files" files ratio target
	paste -d' ' "$T/bench.recd" "$T/bench.files" | while read -r call kind ns _ _ fns; do
		target=1.20
		[ "$kind" = recorded ] && target=0.26
		ratio=$(awk -v a="$ns" -v b="$fns" 'BEGIN { printf "%.3f", a / b }')
		ok=$(awk -v r="$ratio" -v t="$target" 'BEGIN { print (r <= t) ? "ok" : "MISSED" }')
		printf '%-11s %-13s %10s %10s %8s <= %s %s\n' "$call" "$kind" "$ns" "$fns" "$ratio" "$target" "$ok"
	done
	exit 0
fi

mount --bind "$T/etc/passwd" /etc/passwd
mount --bind "$T/etc/group" /etc/group
SOME="alice=R bob=R carol=R dave=own eve=own frank=R root=own nobody=own"
SOME_ARGS="-scope some -users alice,frank -groups rec,ops -recorder $REC"

if [ "$MODE" = soak ]; then
	snap $SOME_ARGS -drop frank
	step_start "stress 64 threads x 10000"
	nt stress $REC 64 10000 $SOME
	step_end
	step_start "fork 2000 iterations"
	nt fork $REC 2000 $SOME
	step_end
	exit 0
fi

step_start "functional (scope some/all/none, cache/live)"
# scope=some: alice by name, bob by primary GID of member-less group rec, carol
# listed in ops, frank by name but unknown to the cache (live evaluation).
snap $SOME_ARGS -drop frank
nt expect $REC $SOME
"$T/recd-snapshot" -decode $P | grep -q 'Name:frank' && { echo "frank should not be cached"; exit 1; }
# no cache at all: everything live, same answers
snap $SOME_ARGS -no-cache
nt expect $REC $SOME
# a group missing from /etc/group: the compiler leaves the cache out; matches nobody
snap -scope some -users alice,frank -groups rec,ops,ghost -recorder $REC
nt expect $REC $SOME
# users/groups only count with scope=some, exclusions only with scope=all
snap -scope some -users alice -exclude-users alice -recorder $REC
nt expect $REC alice=R bob=own dave=own
# scope=all: everyone but dave (excluded) and members of adm (carol, frank)
snap -scope all -users dave -exclude-users dave -exclude-groups adm -recorder $REC
nt expect $REC alice=R bob=R carol=own dave=own eve=R frank=own root=R nobody=R
# exclusion by primary GID
snap -scope all -exclude-groups rec -recorder $REC
nt expect $REC alice=R bob=own carol=R
snap -scope none -users alice -recorder $REC
nt expect $REC alice=own bob=own
step_end

step_start "snapshot missing/corrupt/too big"
ALLOWN="alice=own bob=own carol=own dave=own frank=own root=own"
rm -f $P
nt expect $REC $ALLOWN
printf 'garbage\n' >$P
nt expect $REC $ALLOWN
snap $SOME_ARGS && sed -i '$d' $P # no end line
nt expect $REC $ALLOWN
snap $SOME_ARGS && sed -i '1s/.*/recd-policy 2/' $P
nt expect $REC $ALLOWN
snap $SOME_ARGS && head -c 4194305 /dev/zero >>$P
nt expect $REC $ALLOWN
mkdir -p $P.d && rm -f $P && mv $P.d $P # a directory
nt expect $REC $ALLOWN
rmdir $P
step_end

step_start "ERANGE, getpwnam"
snap $SOME_ARGS -drop frank
nt erange $REC alice=R frank=R dave=own
step_end

step_start "in-process changes (/etc/group, policy)"
nt live $REC "$T/recd-snapshot"
step_end

step_start "stress 64 threads x 10000"
snap $SOME_ARGS -drop frank
nt stress $REC 64 10000 $SOME
step_end

step_start "lookup, fork, lookup in child x 200"
nt fork $REC 200 $SOME
step_end

step_start "pam_recd (cache, live via dlopen, tlog)"
snap -scope some -users alice,frank -groups rec -recorder $TLOGREC -drop frank \
	-tlog-conf '{"shell":"/bin/sh","notice":"recorded"}'
PT="$T/pam_test $T/pam.d"
$PT alice /bin/bash '{"shell":"/bin/sh","notice":"recorded"}'
$PT bob /bin/sh
$PT frank /usr/bin/zsh-test
$PT dave - -
$PT nosuchuser -
snap $SOME_ARGS -no-cache
$PT frank /usr/bin/zsh-test -
$PT carol /bin/dash
rm -f $P
$PT alice - -
step_end

step_start "valgrind (functional, ERANGE, pam)"
VG="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1"
snap $SOME_ARGS -drop frank
$VG "$T/nss_test" expect $REC $SOME
$VG "$T/nss_test" erange $REC alice=R frank=R dave=own
$VG "$T/nss_test" stress $REC 4 200 $SOME
$VG "$T/pam_test" "$T/pam.d" frank /usr/bin/zsh-test
rm -f $P
$VG "$T/nss_test" expect $REC alice=own
step_end
