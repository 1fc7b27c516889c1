package integration

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recd-dev/recd/tests/testhost"
)

// Hostile clients of recd.sock (issue 7, item 3; recd/daemon/limits.go). Three local users
// who are not recorded attack recd from five processes at once — bob floods connections and
// holds them open without sending (slow-loris), carol sends malformed and oversized frames,
// dave claims alice's logins — while the test measures what the others get: root's
// registrations of logins (what pam_recd sends from sshd, with its 250 ms budget), alice's
// recorded ssh logins, and erin's status request.

// pamBenchResult is what `recdclient pam-bench` prints.
type pamBenchResult struct {
	N        int     `json:"n"`
	Failures int     `json:"failures"`
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
	MaxMS    float64 `json:"max_ms"`
	FirstErr string  `json:"first_error"`
}

func runPAMBench(t *testing.T, h *testhost.Host, client string, n int) pamBenchResult {
	t.Helper()
	out, err := h.Run(client, "pam-bench", strconv.Itoa(n), "alice")
	if err != nil {
		t.Fatalf("pam-bench: %v\n%s", err, out)
	}
	var r pamBenchResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("pam-bench output %q: %v", out, err)
	}
	return r
}

// sshLogins makes n recorded ssh logins of alice one after the other and returns their
// durations, sorted; every one must succeed.
func sshLogins(t *testing.T, h *testhost.Host, n int, tag string) []time.Duration {
	t.Helper()
	var d []time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		stdout, stderr, code, err := h.SSH("alice", "echo "+tag+"-$((40+2))")
		took := time.Since(start)
		if err != nil || code != 0 || !strings.Contains(stdout, tag+"-42") {
			t.Fatalf("ssh login %d of alice (%s): exit %d, %v\n%s%s", i, tag, code, err, stdout, stderr)
		}
		d = append(d, took)
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d
}

// closedRecordings counts user's recordings that have their close entry in the journal.
func closedRecordings(t *testing.T, h *testhost.Host, user string) int {
	t.Helper()
	n := 0
	for _, e := range h.JournalJSON("RECD_EVENT=close") {
		if strings.Contains(testhost.Field(e, "MESSAGE"), " of "+user+" ended: complete") {
			n++
		}
	}
	return n
}

func p99(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[(len(d)*99+99)/100-1]
}

// recdFDs counts recd's open file descriptors (the main process, not its writer child).
func recdFDs(t *testing.T, h *testhost.Host) int {
	t.Helper()
	out, err := h.Run("sh", "-c", `ls /proc/$(pgrep -o -x recd)/fd | wc -l`)
	if err != nil {
		t.Fatalf("counting recd's descriptors: %v\n%s", err, out)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("counting recd's descriptors: %q", out)
	}
	return n
}

// attackResult decodes an attacker's JSON line from its log.
func attackResult(t *testing.T, d *testhost.Daemon) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(d.Log()), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("attacker output: %v\n%s", err, d.Log())
	}
	return m
}

func num(m map[string]any, k string) int {
	f, _ := m[k].(float64)
	return int(f)
}

// abuseLine matches recd's abuse lines; the key is the client.
var abuseLine = regexp.MustCompile(`abuse: (uid \d+ (?:pid \d+|\(further processes\)))`)

// Not parallel: it measures latencies and burns the CPU on purpose, so it runs alone
// (before the parallel tests of the package start).
func TestHostileClients(t *testing.T) {
	h, recd := recordHost(t, "scope = some\nusers = alice", "")
	client := testhost.BuildTool(t, "recdclient")
	attackerUIDs := map[string]bool{}
	for _, u := range []string{"bob", "carol", "dave"} {
		attackerUIDs[fmt.Sprint(h.LookupUser(u).UID)] = true
	}

	// Idle figures first.
	idlePAM := runPAMBench(t, h, client, 150)
	idleSSH := sshLogins(t, h, 15, "idle")
	baseFDs := recdFDs(t, h)
	recsBefore := closedRecordings(t, h, "alice")
	t.Logf("idle: PAM registration p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d exchanges); ssh login p99 %v (%d logins); recd has %d descriptors",
		idlePAM.P50MS, idlePAM.P99MS, idlePAM.MaxMS, idlePAM.N, p99(idleSSH).Round(time.Millisecond), len(idleSSH), baseFDs)
	if idlePAM.Failures > idlePAM.N/100 {
		t.Fatalf("idle PAM registrations failed: %+v", idlePAM)
	}

	// The attack: five processes of three users at once.
	const attackFor = 40 * time.Second
	as := func(user, label string, args ...string) *testhost.Daemon {
		gid := strconv.Itoa(h.LookupUser(user).GID)
		return h.Start(label, "setpriv", append([]string{"--reuid=" + user, "--regid=" + gid, "--init-groups", client}, args...)...)
	}
	attackStart := time.Now()
	attackers := map[string]*testhost.Daemon{
		"flood":     as("bob", "attack-flood", "flood", "256", attackFor.String()),
		"slowloris": as("bob", "attack-slowloris", "slowloris", "64", attackFor.String()),
		"malformed": as("carol", "attack-malformed", "malformed", "4000"),
		"oversized": as("carol", "attack-oversized", "oversized", "500"),
		"claims":    as("dave", "attack-claims", "claim-session", "alice", "2000"),
	}
	time.Sleep(1500 * time.Millisecond) // let the flood build up

	var (
		fdMu   sync.Mutex
		maxFDs int
		stopFD = make(chan struct{})
		fdDone = make(chan struct{})
	)
	go func() {
		defer close(fdDone)
		for {
			select {
			case <-stopFD:
				return
			case <-time.After(200 * time.Millisecond):
			}
			out, err := h.Run("sh", "-c", `ls /proc/$(pgrep -o -x recd)/fd | wc -l`)
			if n, cerr := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && cerr == nil {
				fdMu.Lock()
				maxFDs = max(maxFDs, n)
				fdMu.Unlock()
			}
		}
	}()

	attackPAM := runPAMBench(t, h, client, 150)
	attackSSH := sshLogins(t, h, 15, "attacked")
	// Another user's well-behaved request is served too.
	out, err := h.Run("setpriv", "--reuid=erin", "--regid=erin", "--init-groups", client, "status")
	if err != nil {
		t.Errorf("erin's status request during the attack: %v\n%s", err, out)
	}
	if done, _ := attackers["flood"].Exited(); done {
		t.Fatalf("the flood ended before the measurements did (attack too short):\n%s", attackers["flood"].Log())
	}
	close(stopFD)
	<-fdDone
	t.Logf("under attack: PAM registration p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d exchanges, %d failed); ssh login p99 %v (%d logins); erin: %s; recd had at most %d descriptors",
		attackPAM.P50MS, attackPAM.P99MS, attackPAM.MaxMS, attackPAM.N, attackPAM.Failures,
		p99(attackSSH).Round(time.Millisecond), len(attackSSH), strings.TrimSpace(string(out)), maxFDs)

	// pam_recd gives up after 250 ms (the bench counts a later answer as a failure): the
	// p99 must be within that budget, so at most 1 in 100 may miss it.
	if attackPAM.Failures > attackPAM.N/100 {
		t.Errorf("root's PAM registrations under attack: %+v (want the p99 within pam_recd's 250 ms)", attackPAM)
	}
	// The churn of the flood keeps connections between accept and their first look
	// (where the limits apply) in flight; they stay a bounded few hundred.
	if maxFDs > baseFDs+1024 {
		t.Errorf("recd had %d descriptors under attack, %d idle", maxFDs, baseFDs)
	}

	// Wait for the attackers, then read what they saw.
	waitUntil(t, attackFor+30*time.Second, "the attackers finish", func() bool {
		for _, a := range attackers {
			if done, _ := a.Exited(); !done {
				return false
			}
		}
		return true
	})
	elapsed := time.Since(attackStart)
	flood := attackResult(t, attackers["flood"])
	loris := attackResult(t, attackers["slowloris"])
	mal := attackResult(t, attackers["malformed"])
	over := attackResult(t, attackers["oversized"])
	claims := attackResult(t, attackers["claims"])
	t.Logf("flood: %v", flood)
	t.Logf("slow-loris: %v", loris)
	t.Logf("malformed: %v", mal)
	t.Logf("oversized: %v", over)
	t.Logf("claims of alice's logins: %v", claims)
	if num(flood, "closed_by_recd")+num(flood, "refused") == 0 {
		t.Errorf("recd never closed or refused a connection of the flood: %v", flood)
	}
	// Silent connections and half headers are dropped after recd's 5 s request timeout
	// at the latest (the flood makes them go sooner).
	if num(loris, "dropped") == 0 || num(loris, "max_lifetime_ms") > 7000 {
		t.Errorf("slow-loris connections: %v (want dropped within 5 s)", loris)
	}
	for name, r := range map[string]map[string]any{"malformed": mal, "oversized": over} {
		if num(r, "sent") == 0 || num(r, "answered") != num(r, "sent") || num(r, "open") != 0 ||
			!strings.HasPrefix(fmt.Sprint(r["sample"]), "bad request: ") {
			t.Errorf("%s frames: %v (want every one answered with an error and the connection closed)", name, r)
		}
	}
	if num(over, "sent") > 0 && !strings.Contains(fmt.Sprint(over["sample"]), "1 MiB") {
		t.Errorf("oversized frames: the answer does not say why: %v", over["sample"])
	}
	if num(claims, "granted") != 0 || num(claims, "refused") != num(claims, "sent") || num(claims, "sent") == 0 {
		t.Errorf("bob's registrations of alice's logins: %v (want all refused)", claims)
	}

	// alice's logins were recorded, each one.
	waitUntil(t, 20*time.Second, "alice's 15 logins under attack recorded", func() bool {
		return closedRecordings(t, h, "alice") >= recsBefore+15
	})
	// recd is well: it answers, and holds no more than before the attack.
	h.MustRun(t, "recctl", "status")
	waitUntil(t, 10*time.Second, "recd's descriptors back to the idle count", func() bool {
		return recdFDs(t, h) <= baseFDs+2
	})

	// Without the churn, what one user holds is exactly the limit: bob opens 200 silent
	// connections at once and keeps them; recd keeps 32 (each newer one makes the oldest
	// go, after the 1 s tarpit), and drops those after its 5 s request timeout.
	holder := as("bob", "attack-hold", "hold", "200", "4s")
	waitUntil(t, 5*time.Second, "bob holds his connections", func() bool {
		return strings.Contains(holder.Log(), "holding ")
	})
	time.Sleep(1700 * time.Millisecond)
	if n := recdFDs(t, h); n > baseFDs+32+2 {
		t.Errorf("bob holding 200 connections: recd has %d descriptors, %d idle: more than bob's 32", n, baseFDs)
	} else {
		t.Logf("bob holding 200 connections: recd has %d descriptors (%d idle, bob's limit 32)", n, baseFDs)
	}
	waitUntil(t, 10*time.Second, "the holder finishes", func() bool { done, _ := holder.Exited(); return done })
	if r := attackResult(t, holder); num(r, "closed_by_recd") < num(r, "opened")-32 {
		t.Errorf("hold: %v (want all but at most 32 closed by recd)", r)
	}

	// An attacker who does not wait for recd to close (64 loops of connect and close) is
	// not slowed by the tarpit, and keeps recd.sock's listen backlog full: a connection
	// there waits behind thousands. Root's registrations go through root.sock, which has
	// a backlog of its own (recd/daemon/rootsock.go), as does the real pam_recd in sshd.
	loginLines := func() int { return strings.Count(recd.Log(), "login: user=alice service=sshd") }
	churner := as("bob", "attack-churn", "churn", "64", "25s")
	time.Sleep(time.Second)
	churnPAM := runPAMBench(t, h, client, 150)
	loginsBefore := loginLines()
	churnSSH := sshLogins(t, h, 5, "churned")
	// The real pam_recd (inside sshd) registered each of them, through root.sock.
	waitUntil(t, 5*time.Second, "pam_recd's registrations of the 5 logins", func() bool { return loginLines() >= loginsBefore+5 })
	waitUntil(t, 40*time.Second, "the churn finishes", func() bool { done, _ := churner.Exited(); return done })
	t.Logf("under a connect-and-close flood (%v): PAM registration p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d exchanges, %d failed); ssh login p99 %v (%d logins)",
		attackResult(t, churner), churnPAM.P50MS, churnPAM.P99MS, churnPAM.MaxMS, churnPAM.N, churnPAM.Failures, p99(churnSSH).Round(time.Millisecond), len(churnSSH))
	if churnPAM.Failures > churnPAM.N/100 {
		t.Errorf("root's PAM registrations under a connect-and-close flood: %+v (want the p99 within pam_recd's 250 ms)", churnPAM)
	}
	elapsed = time.Since(attackStart)

	// The abuse is in recd's log once per client (each attacker process), then summed
	// up at most once a minute: thousands of frames, a handful of lines.
	perClient := map[string]int{}
	total := 0
	for _, l := range strings.Split(recd.Log(), "\n") {
		if m := abuseLine.FindStringSubmatch(l); m != nil {
			perClient[m[1]]++
			total++
		}
	}
	refusedClaims := strings.Count(recd.Log(), "refused session-")
	t.Logf("recd's log: %d abuse lines for %d clients %v, %d lines of refused claims, after %d bad frames, %d claims and %d flood connections in %v",
		total, len(perClient), perClient, refusedClaims, num(mal, "sent")+num(over, "sent"), num(claims, "sent"),
		num(flood, "connects"), elapsed.Round(time.Second))
	maxPer := 1 + int(elapsed/time.Minute) + 1 // the first line, one summary a minute, one at the end
	for c, n := range perClient {
		if n > maxPer {
			t.Errorf("%s: %d abuse lines in %v, want at most %d", c, n, elapsed.Round(time.Second), maxPer)
		}
		if !attackerUIDs[strings.Fields(c)[1]] {
			t.Errorf("abuse logged for %s, who did nothing wrong", c)
		}
	}
	// One client per attacking process (flood, slow-loris, malformed, oversized, hold,
	// churn); dave's claims are logged as refused claims, their summary only after a minute.
	if len(perClient) < 6 || len(perClient) > 7 {
		t.Errorf("abuse lines for %d clients, want one per attacking process:\n%s", len(perClient), recd.Log())
	}
	if refusedClaims > maxPer {
		t.Errorf("%d lines for %d refused claims of one client", refusedClaims, num(claims, "sent"))
	}
}

// Files and sockets have the modes of the design, whatever recd's umask: /run/recd 0755,
// recd.sock 0666 (anyone may connect; recd decides per request), root.sock 0600 (root's
// own lane, recd/daemon/rootsock.go), /var/lib/recd 0755 and
// its policy 0644, /etc/recd/recd.conf 0644, all root's. An edit through recctl keeps
// recd.conf's mode. The installed units and tmpfiles say the same for systemd.
func TestHardeningFileModes(t *testing.T) {
	t.Parallel()
	h := loginHost(t)
	writePolicy(t, h, "scope = some\nusers = alice", stubPath)
	h.MustRun(t, "sh", "-c", "umask 077; recctl reload")
	h.Start("recd", "sh", "-c", "umask 077; exec /usr/sbin/recd")
	waitUntil(t, 5*time.Second, "recd answers", func() bool {
		_, err := h.Run("recctl", "status")
		return err == nil
	})
	h.MustRun(t, "sh", "-c", "umask 077; recctl users add erin")
	want := map[string]string{
		"/run/recd":             "755 root root directory",
		"/run/recd/recd.sock":   "666 root root socket",
		"/run/recd/root.sock":   "600 root root socket",
		"/var/lib/recd":         "755 root root directory",
		"/var/lib/recd/policy":  "644 root root regular file",
		"/etc/recd":             "755 root root directory",
		"/etc/recd/conf.d":      "755 root root directory",
		"/etc/recd/recd.conf":   "644 root root regular file",
		"/usr/sbin/recd":        "755 root root regular file",
		"/usr/bin/recd-session": "755 root root regular file",
	}
	var paths []string
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		out, err := h.Run("stat", "-c", "%a %U %G %F", p)
		got := strings.TrimSpace(string(out))
		if err != nil || got != want[p] {
			t.Errorf("%s: %q (%v), want %q", p, got, err, want[p])
		}
	}
	if conf := string(h.ReadFile("/etc/recd/recd.conf")); !strings.Contains(conf, "erin") {
		t.Errorf("the edit is not in recd.conf:\n%s", conf)
	}
	// What systemd creates when recd runs under it.
	for file, lines := range map[string][]string{
		"/usr/lib/tmpfiles.d/recd.conf":        {"d /run/recd 0755 root root -", "d /var/lib/recd 0755 root root -"},
		"/usr/lib/systemd/system/recd.socket":  {"ListenStream=/run/recd/recd.sock", "SocketMode=0666", "DirectoryMode=0755"},
		"/usr/lib/systemd/system/recd.service": {"ExecStart=/usr/sbin/recd"},
	} {
		b, err := h.TryReadFile(file)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		for _, l := range lines {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(l) + `$`).Match(b) {
				t.Errorf("%s lacks %q", file, l)
			}
		}
	}
}

// A recd.conf or drop-in that a user other than root can change, or a drop-in directory
// others can write, is refused: recd (on the change it sees) and `recctl reload` name the
// file and the fix, `recctl status` shows the error, and the last good policy stays.
func TestHardeningUntrustedConfigRefused(t *testing.T) {
	t.Parallel()
	h := loginHost(t)
	writePolicy(t, h, "scope = some\nusers = alice", stubPath)
	h.MustRun(t, "recctl", "reload")
	recd := startRecd(t, h)
	if sh := shellOf(t, h, "alice"); sh != stubPath {
		t.Fatalf("alice's shell %q before, want the recorder", sh)
	}
	evil := "/etc/recd/conf.d/50-evil.conf"
	h.WriteFile(evil, []byte("[session_recording]\nscope = none\n"), 0o644)
	h.MustRun(t, "recctl", "reload") // trusted: in force (nobody recorded)
	if sh := shellOf(t, h, "alice"); sh != "/bin/bash" {
		t.Fatalf("alice's shell %q with scope = none", sh)
	}
	h.Run("rm", evil)
	h.MustRun(t, "recctl", "reload")

	steps := []struct {
		name, setup, file, fix, undo string
	}{
		{"world-writable drop-in", "install -m 0666 /dev/null " + evil + " && echo '[session_recording]' > " + evil + " && echo 'scope = none' >> " + evil,
			evil, "chmod go-w " + evil, "rm -f " + evil},
		{"group-writable drop-in", "install -m 0664 /dev/null " + evil + " && printf '[session_recording]\\nscope = none\\n' > " + evil,
			evil, "chmod go-w " + evil, "rm -f " + evil},
		{"drop-in owned by bob", "install -m 0644 -o bob /dev/null " + evil + " && printf '[session_recording]\\nscope = none\\n' > " + evil,
			evil, "chown root:root " + evil, "rm -f " + evil},
		{"group-writable recd.conf", "chmod 0664 /etc/recd/recd.conf",
			"/etc/recd/recd.conf", "chmod go-w /etc/recd/recd.conf", "chmod 0644 /etc/recd/recd.conf"},
		{"recd.conf owned by bob", "chown bob /etc/recd/recd.conf",
			"/etc/recd/recd.conf", "chown root:root /etc/recd/recd.conf", "chown root /etc/recd/recd.conf"},
		{"drop-in directory writable by all", "chmod 0777 /etc/recd/conf.d",
			"/etc/recd/conf.d", "chmod go-w /etc/recd/conf.d", "chmod 0755 /etc/recd/conf.d"},
	}
	for _, s := range steps {
		logBefore := len(recd.Log())
		h.MustRun(t, "sh", "-c", s.setup)
		out, err := h.Run("recctl", "reload")
		if err == nil || !strings.Contains(string(out), s.file) || !strings.Contains(string(out), s.fix) ||
			!strings.Contains(string(out), "policy in force is unchanged") {
			t.Errorf("%s: recctl reload: %v\n%s", s.name, err, out)
		}
		out, _ = h.Run("recctl", "status")
		if !strings.Contains(string(out), "last good policy stays in force") || !strings.Contains(string(out), s.fix) {
			t.Errorf("%s: recctl status does not show the error:\n%s", s.name, out)
		}
		waitUntil(t, 5*time.Second, s.name+": recd's log names the file and the fix", func() bool {
			l := recd.Log()[logBefore:]
			return strings.Contains(l, "refused, the last good policy stays in force") && strings.Contains(l, s.fix)
		})
		if sh := shellOf(t, h, "alice"); sh != stubPath {
			t.Errorf("%s: alice's shell is %q: the refused file changed the policy in force", s.name, sh)
		}
		h.MustRun(t, "sh", "-c", s.undo)
		if out, err := h.Run("recctl", "reload"); err != nil {
			t.Fatalf("%s: after the fix: %v\n%s", s.name, err, out)
		}
	}
	t.Logf("recd's log, first refusal: %s", regexp.MustCompile(`(?m)^.*refused, the last good.*$`).FindString(recd.Log()))
}

// recd.service's sandboxing, as systemd-analyze security rates it offline (systemd >= 250
// has --offline). The score is logged (docs/reliability-hostile.md has it) and must not
// get worse than the one recorded there.
func TestHardeningSystemdAnalyze(t *testing.T) {
	t.Parallel()
	repo, err := testhost.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	cmd := exec.Command("systemd-analyze", "security", "--offline=yes", "--no-pager", "etc/systemd/recd.service")
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "unrecognized option") || strings.Contains(string(out), "Unknown option") {
		t.Skipf("this systemd-analyze has no --offline: %s", out)
	}
	m := regexp.MustCompile(`Overall exposure level for recd\.service: ([0-9.]+) (\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security --offline=yes etc/systemd/recd.service: %v\n%s", err, out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	ver, _ := exec.Command("systemctl", "--version").Output()
	t.Logf("systemd-analyze security --offline=yes etc/systemd/recd.service (with recd.service.d/, %s): exposure %.1f %s",
		strings.SplitN(string(ver), "\n", 2)[0], score, m[2])
	var open []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "✗") {
			open = append(open, strings.Join(strings.Fields(l)[:2], " "))
		}
	}
	t.Logf("not set (%d): %s", len(open), strings.Join(open, "; "))
	if score > 3.5 {
		t.Errorf("exposure %.1f, worse than the 3.1 recorded in docs/reliability-hostile.md:\n%s", score, out)
	}
	// Without the drop-ins: what systemd 219 (EL7) gets. Logged, not judged.
	tmp := t.TempDir()
	b, err := os.ReadFile(repo + "/etc/systemd/recd.service")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(tmp+"/recd.service", b, 0o644)
	cmd = exec.Command("systemd-analyze", "security", "--offline=yes", "--no-pager", "recd.service")
	cmd.Dir = tmp
	out, _ = cmd.CombinedOutput()
	if m := regexp.MustCompile(`Overall exposure level for recd\.service: ([0-9.]+ \S+)`).FindSubmatch(out); m != nil {
		t.Logf("recd.service alone (what systemd 219 gets): exposure %s", m[1])
	}
}

// No C module reads the environment: inside sshd, login, su or sudo it is the calling
// program's, and for a setuid one the user's. The modules built by make import none of
// getenv, secure_getenv, environ and friends (nss/tests/check_symbols.sh checks the same
// in make test-c). Bad D-Bus calls from users other than root are TestDBusAPI's.
func TestHardeningCModulesReadNoEnvironment(t *testing.T) {
	t.Parallel()
	repo, err := testhost.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	forbidden := regexp.MustCompile(`^((__)?(libc_)?(secure_)?getenv|_?_?environ|setenv|putenv|unsetenv|clearenv|pam_getenv(list)?)$`)
	for _, name := range []string{"libnss_recd.so.2", "pam_recd.so"} {
		path := filepath.Join(repo, "build", name)
		f, err := elf.Open(path)
		if err != nil {
			t.Fatalf("%s (run make first): %v", path, err)
		}
		syms, err := f.ImportedSymbols()
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var names, bad []string
		for _, s := range syms {
			names = append(names, s.Name)
			if forbidden.MatchString(s.Name) {
				bad = append(bad, s.Name)
			}
		}
		if !strings.Contains(strings.Join(names, " "), "syslog") {
			t.Fatalf("%s: the imports do not look right (no syslog): %v", name, names)
		}
		if len(bad) > 0 {
			t.Errorf("%s reads the environment: %v", name, bad)
		}
		t.Logf("%s: %d imported symbols, none reads the environment", name, len(syms))
	}
	// The check itself finds what it looks for.
	if !forbidden.MatchString("secure_getenv") || !forbidden.MatchString("__environ") || forbidden.MatchString("pam_putenv") {
		t.Fatal("the pattern is wrong")
	}
}
