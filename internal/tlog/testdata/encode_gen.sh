#!/bin/sh
# Regenerates the tlog reference recordings testdata/encode_*.jsonl with the real tlog-rec
# (Debian's tlog 12.1). Run as root from internal/tlog: sh testdata/encode_gen.sh
#
# Each case is a shell script run by tlog-rec under script(1) in a private mount namespace
# (tlog-rec needs a writable /run/utmp, given to it there on a private tmpfs). The outer
# terminal is set to 100x30 first, so tlog-rec records "=100x30". Output-only (tlog-rec's
# default), default latency 10 s: every case ends well within it.
# Each output file starts with "#" lines: how it was made, then the case's script.
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# case NAME PAYLOAD: the case's script comes on stdin.
case_() {
	name=$1 payload=$2
	cat >"$work/$name.sh"
	rm -f "$work/$name.log"
	unshare -m sh -c "mount -t tmpfs tmpfs /run && touch /run/utmp &&
		script -qec 'stty cols 100 rows 30; tlog-rec --writer=file --file-path=$work/$name.log --payload=$payload sh $work/$name.sh' /dev/null" >/dev/null
	{
		echo "# tlog-rec 12.1 reference, made by testdata/encode_gen.sh: script(1) at 100x30,"
		echo "# tlog-rec --writer=file --payload=$payload sh CASE, where CASE is:"
		sed 's/^/#   /' "$work/$name.sh"
		cat "$work/$name.log"
	} >"$dir/encode_$name.jsonl"
}

# The golden of tlog-format.md §1.4, at 100x30 instead of 0x0.
case_ golden14 2048 <<'X'
printf 'h\303\251llo\n'; sleep 1.2; printf 'bad:\377\376 inc:\342\202 end\n\001\033[0m'; printf '\360\237\230\200 "q" \\ \t'
X

# The golden of tlog-format.md §1.5.
case_ payload64 64 <<'X'
for i in 1 2 3 4 5 6; do echo line-$i-0123456789abcdef; done
X

# Every ASCII byte, raw (no output processing), then the JSON specials between text.
case_ escapes 2048 <<'X'
stty -opost
printf '\000\001\002\003\004\005\006\007\010\011\012\013\014\015\016\017\020\021\022\023\024\025\026\027\030\031\032\033\034\035\036\037'
printf ' !"#$%%&'"'"'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\177'
printf 'a"b\\c/d\be\ff\ng\rh\ti\033j\177k'
X

# Multi-byte characters: 2, 3 and 4 bytes, the edges of each length, emoji, CJK, combining.
case_ wide 2048 <<'X'
printf 'Январь Ιανουάριος Watérmân 日本語 한국어 😀👍🏽 e\314\201 \302\200\337\277\340\240\200\357\277\277\360\220\200\200\364\217\277\277 \357\277\275\n'
X

# Invalid UTF-8: overlongs, surrogates, above U+10FFFF, lone and truncated sequences.
case_ invalid 2048 <<'X'
stty -opost
printf 'A\300\200B\340\200\200C\355\240\200D\364\220\200\200E\365\366\367\370\371\372\373\374\375\376\377F\200G\342\202aH\360\237\230bI\340\240cJ\301\277K\370\210\200\200\200L'
printf 'M\342\202'
sleep 0.3
printf '\254N\360\237'
sleep 0.3
printf '\230\200O\360\237\230'
X

# Window changes of the outer terminal (tlog-rec's stdin), with a repeated size.
case_ window 2048 <<'X'
t=/proc/$PPID/fd/0
printf 'a'; sleep 0.2
stty -F $t cols 80 rows 24; sleep 0.2
printf 'b'; sleep 0.2
stty -F $t cols 80 rows 24; sleep 0.2
printf 'c'; sleep 0.2
stty -F $t cols 132 rows 43; sleep 0.2
printf 'd'
X

# Delays below and above 1 s.
case_ delays 2048 <<'X'
printf 'a'; sleep 0.3; printf 'b'; sleep 1.5; printf 'c'; sleep 0.002; printf 'd'; sleep 2.05; printf 'e'; sleep 0.05; printf 'f\n'
X

# Mixed text, escapes, multi-byte and invalid bytes split over many small messages.
case_ split 100 <<'X'
stty -opost
i=0
while [ $i -lt 12 ]; do
	printf 'x%d:\033[1mÄÖÜ€😀\tq"\\\377\376\342\202 ' $i
	i=$((i+1))
done
head -c 1500 /dev/urandom
X

# Random bytes at the default payload.
case_ binary 2048 <<'X'
stty -opost
head -c 12000 /dev/urandom
X
