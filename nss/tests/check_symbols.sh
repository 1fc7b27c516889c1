#!/bin/sh
# Fails if a module needs a versioned glibc symbol newer than GLIBC_2.17, or
# carries DF_1_NODELETE (rule 8: the modules load on glibc 2.17 / EL7), or
# imports anything that reads the environment (getenv, secure_getenv, environ, …).
#   nss/tests/check_symbols.sh build/libnss_recd.so.2 build/pam_recd.so
set -eu
bad=0
for so in "$@"; do
	off=$(objdump -T "$so" | awk '
		{ for (i = 1; i <= NF; i++) if ($i ~ /^\(?GLIBC_[0-9.]+\)?$/) { v = $i; gsub(/[()]/, "", v); print v, $NF } }' |
		while read -r ver sym; do
			n=${ver#GLIBC_}
			maj=${n%%.*}; rest=${n#*.}; min=${rest%%.*}
			if [ "$maj" -gt 2 ] || { [ "$maj" -eq 2 ] && [ "$min" -gt 17 ]; }; then echo "$sym@$ver"; fi
		done)
	if [ -n "$off" ]; then
		echo "FAIL: $so needs glibc symbols newer than 2.17:" $off
		bad=1
	fi
	if readelf -d "$so" | grep -q 'NODELETE'; then
		echo "FAIL: $so has DF_1_NODELETE"
		bad=1
	fi
	if objdump -T "$so" | grep -qE '_chk($|@)'; then
		echo "FAIL: $so uses _FORTIFY_SOURCE *_chk symbols"
		bad=1
	fi
	# No module reads (or changes) the environment: inside sshd, login, su or sudo it is
	# the caller's, and a setuid caller's is the user's. That includes PAM's environment
	# list, which pam_env may fill from the user's files (pam_recd only sets it).
	envsyms=$(objdump -T "$so" | awk '/\*UND\*/ { print $NF }' |
		grep -xE '(__)?(libc_)?(secure_)?getenv|_?_?environ|setenv|putenv|unsetenv|clearenv|pam_getenv(list)?' || true)
	if [ -n "$envsyms" ]; then
		echo "FAIL: $so reads the environment:" $envsyms
		bad=1
	fi
	newest=$(objdump -T "$so" | grep -oE 'GLIBC_[0-9.]+' | sort -t. -k2,2n -k3,3n -u | tail -1)
	echo "  $so: newest glibc symbol version $newest, no NODELETE"
	if [ -z "$envsyms" ]; then echo "  $so: imports nothing that reads the environment"; fi
done
exit $bad
