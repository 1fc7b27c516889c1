package load

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"time"
)

// The files and programs the sessions use, created on the test host before the run.
const (
	dataDir    = "/srv/load"
	screenProg = "/usr/local/bin/loadscreen"
)

// burstFiles are the sizes of the files `cat` bursts print (text with UTF-8, a few invalid
// bytes and control characters, as real logs and binaries catted by mistake have).
var burstFiles = []int{1 << 20, 2 << 20, 3 << 20, 4 << 20}

// setupScript creates dataDir/big-N.txt (burstFiles) and the full-screen program.
func setupScript() string {
	var b strings.Builder
	fmt.Fprintf(&b, "set -eu\nmkdir -p %s\n", dataDir)
	// One 1 MiB block: base64 lines, then UTF-8, invalid bytes and control characters.
	fmt.Fprintf(&b, `{ head -c 700000 /dev/urandom | base64 -w 76
  for i in $(seq 1 400); do printf 'utf8 line %%d: caf\xc3\xa9 \xe5\xad\x97 \xe2\x82\xac \xf0\x9f\x99\x82 bad:\xff\xfe\xc3 ctl:\x01\x02\x7f tab:\t end\n' $i; done
  head -c 60000 /dev/urandom | od -An -tx1 -v
} | head -c 1048576 > %s/block
`, dataDir)
	for i, n := range burstFiles {
		fmt.Fprintf(&b, "for k in $(seq 1 %d); do cat %s/block; done > %s/big-%d.txt\n", n>>20, dataDir, dataDir, i)
	}
	fmt.Fprintf(&b, "chmod -R a+rX %s\n", dataDir)
	fmt.Fprintf(&b, "cat > %s <<'EOF'\n%sEOF\nchmod 755 %s\n", screenProg, screenScript, screenProg)
	return b.String()
}

// screenScript prints what a full-screen program (top, vi) prints: the alternate screen,
// clears, cursor positioning, colours and attributes, scrolling regions, a `top -b`
// snapshot drawn at positions, and back to the normal screen.
const screenScript = `#!/bin/bash
# loadscreen FRAMES SEED — full-screen output for the recd load test
frames=${1:-4}; RANDOM=${2:-1}
read -r rows cols < <(stty size 2>/dev/null || echo 24 80)
[ "${rows:-0}" -gt 3 ] || rows=24; [ "${cols:-0}" -gt 10 ] || cols=80
printf '\e[?1049h\e[?25l\e[H\e[2J'
snap=$(top -b -n 1 -w "$cols" 2>/dev/null | head -n $((rows - 2)))
for ((f = 1; f <= frames; f++)); do
  printf '\e[H\e[2J\e[1;7m%-*s\e[0m' "$cols" " loadscreen frame $f/$frames  $(date +%T)"
  r=2
  while IFS= read -r line && [ $r -lt $rows ]; do
    printf '\e[%d;1H\e[3%dm%s\e[K\e[0m' $r $((RANDOM % 8)) "${line:0:$cols}"
    r=$((r + 1))
  done <<< "$snap"
  for ((i = 0; i < 12; i++)); do
    printf '\e[%d;%dH\e[4%d;3%dm%s\e[0m' $((RANDOM % rows + 1)) $((RANDOM % (cols - 8) + 1)) $((RANDOM % 8)) $((RANDOM % 8)) "*$RANDOM*"
  done
  printf '\e[2;%dr\e[%d;1H\n\n\e[r' $((rows - 1)) $((rows - 1))
done
printf '\e[?25h\e[?1049l'
echo "loadscreen: $frames frames of ${cols}x${rows}"
`

// typedCommands are typed key by key, as a person would.
var typedCommands = []string{
	"ls -la /usr/bin | head -n 30",
	"echo hello from $USER on $(hostname)",
	"date; uptime",
	"id; pwd; ls -a",
	"seq 1 300 | paste -sd' ' | fold -w 70",
	"for i in 1 2 3 4 5; do echo line $i; done",
	"ps -ef | head -n 15",
	`printf 'wide: \xe5\xad\x97 \xe2\x82\xac bad: \xff\xfe ctl:\x01\x7f end\n'`,
	"cat /etc/os-release",
	"df -h / | tail -n 1",
	"uname -a",
	"grep -c bash /etc/passwd",
	"ls -l /srv/load",
	"history | tail -n 5",
}

// Step kinds (the report counts them).
const (
	stepType   = "type"
	stepCat    = "cat"
	stepYes    = "yes"
	stepScreen = "screen"
	stepResize = "resize"
	stepIdle   = "idle"
)

// mix is the weighted choice of the next step, in percent; the share of `cat` bursts is
// Config.CatPercent (default 2: about two 1–4 MiB bursts per session every 5 minutes, on
// top of ~100 KiB/min of typing, screens and `yes`), the rest is scaled to fill 100.
var mix = []struct {
	kind   string
	weight int
}{
	{stepType, 45},
	{stepYes, 10},
	{stepScreen, 12},
	{stepResize, 8},
	{stepIdle, 23},
}

// DefaultCatPercent is the default Config.CatPercent.
const DefaultCatPercent = 2

func nextStep(rng *rand.Rand, catPercent int) string {
	if rng.IntN(1000) < catPercent*10 {
		return stepCat
	}
	total := 0
	for _, m := range mix {
		total += m.weight
	}
	n := rng.IntN(total)
	for _, m := range mix {
		if n < m.weight {
			return m.kind
		}
		n -= m.weight
	}
	return stepIdle
}

// stepTimeout bounds one step: a burst on a loaded 2-core machine takes a while.
const stepTimeout = 3 * time.Minute

var sttySize = regexp.MustCompile(`(\d+) (\d+)\r?\n@@`)

// runStep performs one step of kind on the session.
func (s *session) runStep(kind string) error {
	rng := s.rng
	switch kind {
	case stepType:
		cmd := typedCommands[rng.IntN(len(typedCommands))]
		for _, r := range cmd {
			if err := s.t.Send(string(r)); err != nil {
				return err
			}
			time.Sleep(time.Duration(15+rng.IntN(90)) * time.Millisecond)
		}
		return s.command("", true)
	case stepCat:
		return s.command(fmt.Sprintf("cat %s/big-%d.txt", dataDir, rng.IntN(len(burstFiles))), false)
	case stepYes:
		return s.command("yes | head -n 20000", false)
	case stepScreen:
		return s.command(fmt.Sprintf("%s %d %d", screenProg, 2+rng.IntN(4), rng.IntN(30000)), false)
	case stepResize:
		rows, cols := uint16(20+rng.IntN(41)), uint16(60+rng.IntN(141))
		if err := s.resize(rows, cols); err != nil {
			return err
		}
		// The size travels: driver's terminal → ssh → sshd → the recorder → the shell's
		// terminal. Check that it arrived.
		for try := 0; ; try++ {
			time.Sleep(200 * time.Millisecond)
			out, err := s.output("stty size")
			if err != nil {
				return err
			}
			if m := sttySize.FindStringSubmatch(out); m != nil && m[1] == fmt.Sprint(rows) && m[2] == fmt.Sprint(cols) {
				return nil
			}
			if try == 20 {
				return fmt.Errorf("resize to %dx%d: stty size still says %q", cols, rows, out)
			}
		}
	case stepIdle:
		time.Sleep(time.Duration(500+rng.IntN(2500)) * time.Millisecond)
		return nil
	}
	return fmt.Errorf("unknown step %q", kind)
}
