package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/bits"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"

	"github.com/recd-dev/recd/ctl/internal/sysconf"
	"github.com/recd-dev/recd/internal/activate"
	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/proto"
)

var doctorCommand = command{name: "doctor",
	summary: "check the host's setup for session recording and say how to fix each problem",
	help: "Checks, on this host: recd first on the passwd line of nsswitch.conf; pam_recd.so in\n" +
		"the session stacks of sshd, login, su, su-l and sudo-i (includes followed); the\n" +
		"modules installed; the recorder of [recorder] there and executable; recd answering\n" +
		"on its socket; the journal persistent; journald's rate limit against a burst of\n" +
		"output; the SELinux module loaded on an enforcing host; on EL with recorder = tlog,\n" +
		"a UTF-8 locale from PAM, and tlog's lock directory and SUID bit. Each problem is\n" +
		"printed with what is wrong, why it matters and the command that fixes it.\n" +
		"It changes nothing.\n\n" +
		"Exit status: 0 nothing is wrong, 1 at least one problem, 2 usage error.\n\n" +
		"Example:\n  recctl doctor",
	run:   (*App).cmdDoctor,
	setup: hostFlags}

// finding is one problem doctor found.
type finding struct {
	check string
	// what is wrong (first line: the headline), why it matters, and the fix (commands).
	what, why, fix string
}

func (f finding) print(w io.Writer) {
	head, rest, _ := strings.Cut(f.what, "\n")
	fmt.Fprintf(w, "[PROBLEM] %s: %s\n", f.check, head)
	if rest != "" {
		fmt.Fprintf(w, "%s\n", indentBy(rest, "    "))
	}
	fmt.Fprintf(w, "    why: %s\n", indentRest(f.why, "         "))
	fmt.Fprintf(w, "    fix: %s\n", indentRest(f.fix, "         "))
}

func indentBy(s, pre string) string {
	return pre + strings.ReplaceAll(s, "\n", "\n"+pre)
}

func indentRest(s, pre string) string {
	return strings.ReplaceAll(s, "\n", "\n"+pre)
}

// doctorEnv is what the checks look at.
type doctorEnv struct {
	a *App
	o sysconf.Options
	f sysconf.FS
	d sysconf.Distro
	// cfg is the configuration (the defaults when it does not validate; cfgErr says why).
	cfg    *config.Config
	cfgErr error
	free   func(string) (uint64, error)
}

// doctorCheck is one check: it returns its findings, and a one-line summary when there are
// none ("skip: ..." when it does not apply).
type doctorCheck struct {
	name string
	fn   func(*doctorEnv) ([]finding, string)
}

func (a *App) newDoctorEnv(o sysconf.Options, d sysconf.Distro) *doctorEnv {
	e := &doctorEnv{a: a, o: o, f: o.FS, d: d, free: a.Host.FreeBytes}
	e.cfg, e.cfgErr = a.load()
	if e.cfg == nil {
		e.cfg = config.Default()
	}
	if e.free == nil {
		e.free = func(p string) (uint64, error) {
			var st syscall.Statfs_t
			if err := syscall.Statfs(o.FS.Host(p), &st); err != nil {
				return 0, err
			}
			return st.Bavail * uint64(st.Bsize), nil
		}
	}
	return e
}

var doctorChecks []doctorCheck

func init() {
	doctorChecks = []doctorCheck{checkConfig, checkModules, checkNSS, checkPAM, checkRecorder, checkDaemon,
		checkJournal, checkRateLimit, checkSELinux, checkLocale, checkTlog}
}

func (a *App) cmdDoctor(fs *flag.FlagSet, args []string) int {
	if len(args) > 0 {
		return a.errorf("doctor: unexpected argument %q", args[0])
	}
	o, err := a.host(fs)
	if err != nil {
		return a.errorf("doctor: %v", err)
	}
	d, err := sysconf.Detect(o.FS)
	if err != nil {
		return a.errorf("doctor: %v", err)
	}
	fmt.Fprintf(a.Stdout, "recctl doctor on %s\n\n", d)
	env := a.newDoctorEnv(o, d)
	problems := 0
	for _, c := range doctorChecks {
		found, summary := c.fn(env)
		for _, f := range found {
			f.print(a.Stdout)
		}
		problems += len(found)
		if len(found) == 0 {
			if s, ok := strings.CutPrefix(summary, "skip: "); ok {
				fmt.Fprintf(a.Stdout, "[skipped] %s: %s\n", c.name, s)
			} else {
				fmt.Fprintf(a.Stdout, "[ok]      %s: %s\n", c.name, summary)
			}
		}
	}
	switch problems {
	case 0:
		fmt.Fprintln(a.Stdout, "\nNo problems found.")
		return ExitOK
	case 1:
		fmt.Fprintln(a.Stdout, "\n1 problem found.")
	default:
		fmt.Fprintf(a.Stdout, "\n%d problems found.\n", problems)
	}
	return ExitNegative
}

// systemdRunning reports whether systemd is the host's init.
func (e *doctorEnv) systemdRunning() bool { return e.f.IsDir("/run/systemd/system") }

// el reports whether the host is of an EL family.
func (e *doctorEnv) el() bool { return e.d.Family == sysconf.EL7 || e.d.Family == sysconf.EL }

// --- the checks ---

var checkConfig = doctorCheck{"configuration", func(e *doctorEnv) ([]finding, string) {
	if e.cfgErr != nil {
		return []finding{{check: "configuration",
			what: "the configuration does not validate:\n" + e.cfgErr.Error(),
			why: "recd refuses a configuration that does not validate and keeps the last good policy in force, " +
				"so what is recorded is not what the files say (and the other checks below use the defaults)",
			fix: "correct the file:line named above, then: recctl reload"}}, ""
	}
	missing := ""
	if len(e.cfg.Files) > 0 && e.cfg.Files[0].Missing {
		missing = " (missing: the defaults apply)"
	}
	return nil, fmt.Sprintf("%s%s validates (scope = %s, recorder = %s)", e.a.ConfigPath, missing, e.cfg.Policy.Scope, e.cfg.Recorder.Recorder)
}}

var checkModules = doctorCheck{"modules", func(e *doctorEnv) ([]finding, string) {
	pam := e.f.FindFile(sysconf.PAMModuleDirs, sysconf.PAMModule)
	nss := e.f.FindFile(sysconf.NSSLibDirs, sysconf.NSSLibrary)
	var missing []string
	if pam == "" {
		missing = append(missing, sysconf.PAMModule)
	}
	if nss == "" {
		missing = append(missing, sysconf.NSSLibrary)
	}
	if len(missing) > 0 {
		return []finding{{check: "modules",
			what: strings.Join(missing, " and ") + " not installed (looked in the library directories of every family)",
			why:  "glibc and libpam skip a module they cannot load: nobody gets the recorder, nothing is recorded",
			fix:  "install recd: the recd package, or make install PREFIX=/usr in the source tree"}}, ""
	}
	return nil, pam + ", " + nss
}}

var checkNSS = doctorCheck{"nsswitch", func(e *doctorEnv) ([]finding, string) {
	data, err := e.f.ReadFile(sysconf.NSSwitchPath)
	if err != nil {
		return []finding{{check: "nsswitch", what: fmt.Sprintf("cannot read %s: %v", sysconf.NSSwitchPath, err),
			why: "without a passwd line naming recd, nobody is recorded",
			fix: "create /etc/nsswitch.conf with \"passwd: recd files\", or: recctl enable"}}, ""
	}
	l, err := sysconf.PasswdLine(data, sysconf.NSSwitchPath)
	if err != nil {
		return []finding{{check: "nsswitch", what: err.Error(),
			why: "recd is not asked for passwd entries, so no user gets the recorder as shell: nobody is recorded",
			fix: "write one passwd line, e.g. \"passwd: recd files\""}}, ""
	}
	fix := "recctl enable   (it puts recd first: \"passwd: recd " + strings.Join(withoutRecd(l.Sources), " ") + "\")"
	authconfig := ""
	if e.d.Family == sysconf.EL7 && e.f.Exists(sysconf.AuthconfigBin) {
		authconfig = ". On CentOS/RHEL 7 authconfig rewrites this line whenever it writes its NSS settings, " +
			"dropping recd: run recctl enable again after every authconfig run"
	}
	switch {
	case !l.HasRecd():
		return []finding{{check: "nsswitch",
			what: fmt.Sprintf("recd is not a passwd source (%s:%d: %q)", sysconf.NSSwitchPath, l.Num, l.Text),
			why: "glibc never asks libnss_recd, so no user gets the recorder as shell: nobody is recorded, " +
				"whatever the policy says" + authconfig,
			fix: fix}}, ""
	case !l.RecdFirst():
		return []finding{{check: "nsswitch",
			what: fmt.Sprintf("recd is not the first passwd source (%s:%d: %q)", sysconf.NSSwitchPath, l.Num, l.Text),
			why: fmt.Sprintf("glibc takes the first answer: %q answers for its users with their real shell "+
				"before recd is asked, so they are never recorded (with files first: every local user)", l.Sources[0]),
			fix: fix}}, ""
	}
	return nil, fmt.Sprintf("recd is the first passwd source (%s:%d)", sysconf.NSSwitchPath, l.Num)
}}

func withoutRecd(s []string) []string {
	var out []string
	for _, x := range s {
		if x != sysconf.NSSService {
			out = append(out, x)
		}
	}
	return out
}

var checkPAM = doctorCheck{"pam", func(e *doctorEnv) ([]finding, string) {
	var found []finding
	var ok, missing, absent []string
	for _, svc := range sysconf.LoginServices {
		rules, err := e.f.PAMStack(svc, "session")
		if errors.Is(err, sysconf.ErrNoService) {
			absent = append(absent, svc)
			continue
		}
		if err != nil {
			found = append(found, finding{check: "pam", what: fmt.Sprintf("the PAM configuration of %s is broken: %v", svc, err),
				why: "libpam cannot build the stack: logins through " + svc + " fail, and recording is not wired in",
				fix: "repair the file named above (see pam.d(5))"})
			continue
		}
		if sysconf.HasSessionModule(rules, sysconf.PAMModule) {
			ok = append(ok, svc)
		} else {
			missing = append(missing, svc)
		}
	}
	if len(missing) > 0 {
		found = append(found, finding{check: "pam",
			what: "pam_recd.so is not in the session stack of " + strings.Join(missing, ", ") +
				" (includes followed: @include, include, substack)",
			why: "pam_recd hands the recorder the user's real shell (TLOG_REC_SESSION_SHELL) and registers the " +
				"login with recd; without it a recorded user logging in this way gets the fallback shell of " +
				"[recorder] shell instead of their own, and recd does not know the login's service, tty and remote host",
			fix: "recctl enable   (it wires the stacks the login services share); a service whose file does not " +
				"include them needs the line itself:\n" +
				"for s in " + strings.Join(missing, " ") + "; do echo 'session optional pam_recd.so' >> /etc/pam.d/$s; done"})
	}
	if len(found) > 0 {
		return found, ""
	}
	s := "pam_recd.so in the session stacks of " + strings.Join(ok, ", ")
	if len(absent) > 0 {
		s += " (not installed here: " + strings.Join(absent, ", ") + ")"
	}
	return nil, s
}}

// recorderPath is the recorder [recorder] names.
func (e *doctorEnv) recorderPath() string {
	switch e.cfg.Recorder.Recorder {
	case config.RecorderBuiltin, "":
		return activate.BuiltinRecorder
	case config.RecorderTlog:
		return activate.TlogRecorder
	}
	return e.cfg.Recorder.Recorder
}

var checkRecorder = doctorCheck{"recorder", func(e *doctorEnv) ([]finding, string) {
	p := e.recorderPath()
	fi, err := e.f.Stat(p)
	why := "NSS hands this program to recorded users as their login shell: if it cannot run, their logins fail " +
		"(and recd refuses to activate such a policy, so the one in force may be an older one)"
	var fix string
	switch e.cfg.Recorder.Recorder {
	case config.RecorderTlog:
		fix = "yum install tlog   (Debian, Ubuntu: apt-get install tlog), or set recorder = builtin in [recorder] of " + e.a.ConfigPath
		if e.d.Family == sysconf.Debian {
			fix = "apt-get install tlog, or set recorder = builtin in [recorder] of " + e.a.ConfigPath
		}
	case config.RecorderBuiltin, "":
		fix = "reinstall recd (the package, or make install PREFIX=/usr in the source tree)"
	default:
		fix = "install " + p + ", or set recorder = builtin in [recorder] of " + e.a.ConfigPath
	}
	what := ""
	switch {
	case errors.Is(err, fs.ErrNotExist):
		what = p + " does not exist"
	case err != nil:
		what = fmt.Sprintf("%s cannot be checked: %v", p, err)
	case !fi.Mode().IsRegular():
		what = p + " is not a regular file"
	case fi.Mode().Perm()&0o111 == 0:
		what = p + " is not executable"
		fix = "chmod 0755 " + p
	}
	if what != "" {
		return []finding{{check: "recorder", what: what + " (recorder = " + e.cfg.Recorder.Recorder + ")", why: why, fix: fix}}, ""
	}
	return nil, fmt.Sprintf("%s (recorder = %s) is executable", p, e.cfg.Recorder.Recorder)
}}

var checkDaemon = doctorCheck{"recd", func(e *doctorEnv) ([]finding, string) {
	sock := e.a.SocketPath
	fix := "systemctl enable --now recd.socket recd.service   (journalctl -u recd.service says why it stopped)"
	if !e.systemdRunning() {
		fix = "start /usr/sbin/recd (it stays in the foreground) and have the init system start it at boot"
	}
	unavailable := "session runs unrecorded (on_unavailable = allow)"
	if e.cfg.Recorder.OnUnavailable == config.UnavailableDeny {
		unavailable = "login is refused (on_unavailable = deny)"
	}
	why := "recd is the only writer of recordings: without it a recorded user's " + unavailable +
		", and edits of recd.conf are not activated by themselves"
	fi, err := os.Lstat(sock)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return []finding{{check: "recd", what: "recd is not running: its socket " + sock + " does not exist", why: why, fix: fix}}, ""
	case err != nil:
		return []finding{{check: "recd", what: fmt.Sprintf("cannot check %s: %v", sock, err), why: why, fix: fix}}, ""
	case fi.Mode()&fs.ModeSocket == 0:
		return []finding{{check: "recd", what: sock + " is not a socket", why: why,
			fix: "rm " + sock + " && " + strings.Split(fix, "   ")[0]}}, ""
	}
	resp, err := e.a.ask(proto.Request{Op: "status"})
	if err == nil && !resp.OK {
		err = errors.New(resp.Error)
	}
	if err != nil {
		return []finding{{check: "recd", what: fmt.Sprintf("recd does not answer on %s: %v", sock, err), why: why, fix: fix}}, ""
	}
	return nil, fmt.Sprintf("recd answers on %s (pid %d, since %s)", sock, resp.Status.PID, resp.Status.Started)
}}

var checkJournal = doctorCheck{"journal", func(e *doctorEnv) ([]finding, string) {
	set, _ := e.f.ReadSystemdConfig(sysconf.JournaldConf, sysconf.JournaldDropinDirs, "Journal")
	storage, where := "auto", "the default"
	if s, ok := set["Storage"]; ok {
		storage, where = strings.ToLower(s.Value), s.Where()
	}
	dir := e.f.IsDir("/var/log/journal")
	dropin := "mkdir -p /etc/systemd/journald.conf.d && printf '[Journal]\\nStorage=persistent\\n' > " +
		"/etc/systemd/journald.conf.d/zz-recd-storage.conf && systemctl restart systemd-journald"
	switch {
	case storage == "volatile" || storage == "none":
		return []finding{{check: "journal",
			what: fmt.Sprintf("journald keeps no journal on disk: Storage=%s (%s)", storage, where),
			why:  "recordings live in the journal: they are lost at every reboot (with none, never stored)",
			fix:  dropin}}, ""
	case storage == "auto" && !dir:
		return []finding{{check: "journal",
			what: fmt.Sprintf("/var/log/journal does not exist and Storage=auto (%s): the journal is kept in /run only", where),
			why:  "recordings live in the journal: they are lost at every reboot (CentOS 7's default setup)",
			fix: "mkdir -p /var/log/journal && systemd-tmpfiles --create --prefix /var/log/journal && " +
				"systemctl restart systemd-journald"}}, ""
	case storage != "auto" && storage != "persistent":
		return []finding{{check: "journal", what: fmt.Sprintf("Storage=%s (%s) is not a value journald knows", storage, where),
			why: "journald ignores it and falls back to auto", fix: dropin}}, ""
	}
	return nil, fmt.Sprintf("persistent (Storage=%s, %s; /var/log/journal exists: %v)", storage, where, dir)
}}

// Journald's rate limit defaults: 30 s; a burst of 10000 messages (1000 in systemd 219,
// CentOS/RHEL 7).
const (
	defaultRateInterval = 30.0
	defaultRateBurst    = 10000
	el7RateBurst        = 1000
	// outputBurst is the burst of terminal output doctor plans for (cat of a big log).
	outputBurst = 1e6
	// journalMaxUse caps what journald counts as available space (SystemMaxUse's default
	// ceiling), which scales the burst.
	journalMaxUse = 4 << 30
)

// burstModulate is journald's scaling of the burst with the available disk space
// (journald-rate-limit.c): ×1 up to 1 MiB, then ×(log2(bytes)−16)/4.
func burstModulate(burst uint64, available uint64) uint64 {
	if available == 0 {
		return burst
	}
	k := uint64(63 - bits.LeadingZeros64(available))
	if k <= 20 {
		return burst
	}
	return burst * (k - 16) / 4
}

var checkRateLimit = doctorCheck{"rate limit", func(e *doctorEnv) ([]finding, string) {
	set, _ := e.f.ReadSystemdConfig(sysconf.JournaldConf, sysconf.JournaldDropinDirs, "Journal")
	interval, burst := defaultRateInterval, uint64(defaultRateBurst)
	if e.d.Family == sysconf.EL7 {
		burst = el7RateBurst
	}
	ivWhere, buWhere := "default", "default"
	for _, k := range []string{"RateLimitInterval", "RateLimitIntervalSec"} {
		if s, ok := set[k]; ok {
			if v, err := sysconf.ParseTimespan(s.Value); err == nil {
				interval, ivWhere = v, s.Where()
			}
		}
	}
	if s, ok := set["RateLimitBurst"]; ok {
		if v, err := strconv.ParseUint(s.Value, 10, 64); err == nil {
			burst, buWhere = v, s.Where()
		}
	}
	// systemd 240 and later: the unit's own limit replaces journald's for its messages.
	perUnit := e.d.Family == sysconf.Debian || e.d.Family == sysconf.EL && e.d.Major >= 9
	if perUnit {
		unit, _ := e.f.UnitConfig("recd.service", "Service")
		if s, ok := unit["LogRateLimitIntervalSec"]; ok {
			if v, err := sysconf.ParseTimespan(s.Value); err == nil {
				interval, ivWhere = v, s.Where()
			}
		}
		if s, ok := unit["LogRateLimitBurst"]; ok {
			if v, err := strconv.ParseUint(s.Value, 10, 64); err == nil {
				burst, buWhere = v, s.Where()
			}
		}
	}
	if interval == 0 || burst == 0 {
		return nil, "journald does not rate-limit recd.service (interval or burst 0)"
	}
	payload := float64(e.cfg.Recorder.Payload)
	rate := outputBurst
	rateWhy := "a burst of terminal output at 1 MB/s (cat of a big log)"
	r := e.cfg.Recorder
	if r.LimitAction != config.LimitPass && r.LimitRate > 0 && float64(r.LimitRate) < rate {
		rate = float64(r.LimitRate)
		rateWhy = fmt.Sprintf("output at the recorder's limit_rate = %d bytes/s (limit_action = %s)", r.LimitRate, r.LimitAction)
	}
	need := math.Ceil(rate / payload)
	var avail uint64
	journalDir := "/var/log/journal"
	if !e.f.IsDir(journalDir) {
		journalDir = "/run/log/journal"
	}
	if free, err := e.free(journalDir); err == nil {
		avail = min(free, journalMaxUse)
	}
	eff := burstModulate(burst, avail)
	allowed := float64(eff) / interval
	scaled := "journal space unknown: not scaled"
	if avail > 0 {
		scaled = fmt.Sprintf("scaled ×%.2g for %d MiB of journal space", float64(eff)/float64(burst), avail>>20)
	}
	summary := fmt.Sprintf("journald lets recd.service write %d messages per %gs (RateLimitBurst %d from %s, interval from %s, "+
		"%s) = %.0f/s", eff, interval, burst, buWhere, ivWhere, scaled, allowed)
	if need <= allowed {
		return nil, fmt.Sprintf("%s; %s needs about %.0f/s with payload = %d", summary, rateWhy, need, r.Payload)
	}
	fix := "mkdir -p /etc/systemd/journald.conf.d && printf '[Journal]\\nRateLimitBurst=0\\n' > " +
		"/etc/systemd/journald.conf.d/zz-recd-ratelimit.conf && systemctl restart systemd-journald\n" +
		"(or raise payload in [recorder] so that fewer, larger messages are written)"
	if perUnit {
		fix = "mkdir -p /etc/systemd/system/recd.service.d && printf '[Service]\\nLogRateLimitIntervalSec=0\\n' > " +
			"/etc/systemd/system/recd.service.d/zz-ratelimit.conf && systemctl daemon-reload && systemctl restart recd.service\n" +
			"(this lifts the limit for recd only; or raise payload in [recorder])"
	}
	return []finding{{check: "rate limit",
		what: fmt.Sprintf("%s, but %s makes about %.0f recording messages per second (payload = %d bytes)",
			summary, rateWhy, need, r.Payload),
		why: "journald drops what is above the limit (it logs \"Suppressed N messages from recd.service\"): " +
			"recordings get holes that recctl verify reports. All recordings on the host share recd's limit",
		fix: fix}}, ""
}}

// semodulePaths are where the packages install the recd policy module: the rpm into the
// targeted store's directory, the deb into Debian's default one.
var semodulePaths = []string{"/usr/share/selinux/packages/targeted/recd.pp", "/usr/share/selinux/default/recd.pp",
	"/usr/share/selinux/packages/recd.pp"}

// semodulePath returns the installed module, or where the family's package puts it.
func (e *doctorEnv) semodulePath() string {
	for _, p := range semodulePaths {
		if e.f.Exists(p) {
			return p
		}
	}
	if e.d.Family == sysconf.Debian {
		return semodulePaths[1]
	}
	return semodulePaths[0]
}

var checkSELinux = doctorCheck{"selinux", func(e *doctorEnv) ([]finding, string) {
	data, err := e.f.ReadFile("/sys/fs/selinux/enforce")
	if err != nil {
		return nil, "skip: SELinux is not enabled"
	}
	if strings.TrimSpace(string(data)) != "1" {
		return nil, "skip: SELinux is not enforcing"
	}
	fix := "semodule -i " + e.semodulePath() + " && restorecon -R /usr/sbin/recd /usr/bin/recd-session /etc/recd /var/lib/recd /run/recd"
	out, code, err := e.o.Run(nil, "semodule", "-l")
	if err != nil || code != 0 {
		return []finding{{check: "selinux", what: fmt.Sprintf("SELinux is enforcing, and semodule -l cannot list the loaded modules (%v%s)",
			err, strings.TrimSpace(out)),
			why: "doctor cannot tell whether the recd policy module is loaded",
			fix: "yum install policycoreutils, then run recctl doctor again"}}, ""
	}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "recd" {
			return nil, "SELinux is enforcing and the recd module is loaded"
		}
	}
	return []finding{{check: "selinux", what: "SELinux is enforcing and the recd policy module is not loaded (semodule -l)",
		why: "the policy does not know recd's files: logins (sshd_t, local_login_t) may be denied running the recorder, " +
			"reading /var/lib/recd/policy or connecting to /run/recd/recd.sock, so sessions go unrecorded or logins fail",
		fix: fix}}, ""
}}

// localeServices are the services that start a session with a fresh environment.
var localeServices = []string{"sshd", "login", "su-l"}

var checkLocale = doctorCheck{"locale", func(e *doctorEnv) ([]finding, string) {
	if !e.el() {
		return nil, "skip: only EL hosts set the locale in the login shell rather than in PAM"
	}
	if e.cfg.Recorder.Recorder != config.RecorderTlog {
		return nil, "skip: recd-session does not depend on the locale (only recorder = tlog does)"
	}
	var found []finding
	lc, _ := e.f.ReadFile("/etc/locale.conf")
	vars := sysconf.ParseOSRelease(lc) // KEY=value lines, as locale.conf is
	lang := vars["LC_ALL"]
	if lang == "" {
		lang = vars["LC_CTYPE"]
	}
	if lang == "" {
		lang = vars["LANG"]
	}
	utf8 := strings.Contains(strings.ToLower(strings.ReplaceAll(lang, "-", "")), "utf8")
	if !utf8 {
		shown := lang
		if shown == "" {
			shown = "no LANG"
		}
		found = append(found, finding{check: "locale",
			what: fmt.Sprintf("the system locale is not UTF-8 (/etc/locale.conf: %s)", shown),
			why:  "tlog-rec-session records only under a UTF-8 locale and refuses to start otherwise",
			fix:  "localectl set-locale LANG=en_US.UTF-8"})
	}
	var missing []string
	for _, svc := range localeServices {
		has := false
		for _, typ := range []string{"auth", "session"} {
			rules, err := e.f.PAMStack(svc, typ)
			if err != nil {
				continue
			}
			for _, r := range rules {
				if r.IsModule("pam_env.so") && strings.Contains(strings.Join(r.Args, " "), "envfile=/etc/locale.conf") {
					has = true
				}
			}
		}
		if !has && e.f.Exists(path.Join(sysconf.PAMDir, svc)) {
			missing = append(missing, svc)
		}
	}
	if len(missing) > 0 {
		found = append(found, finding{check: "locale",
			what: "no pam_env rule reads /etc/locale.conf for " + strings.Join(missing, ", "),
			why: "on EL the locale comes from /etc/profile.d/lang.sh, which the login shell runs; tlog-rec-session " +
				"starts before that shell, gets the C locale and refuses to record",
			fix: "for s in " + strings.Join(missing, " ") + "; do echo 'session required pam_env.so readenv=1 " +
				"envfile=/etc/locale.conf' >> /etc/pam.d/$s; done"})
	}
	if len(found) > 0 {
		return found, ""
	}
	return nil, fmt.Sprintf("UTF-8 locale (%s) read from /etc/locale.conf by PAM for %s", lang, strings.Join(localeServices, ", "))
}}

// tlogUser returns the name and UID of tlog's user (tlog on EL, _tlog on Debian).
func (e *doctorEnv) tlogUser() (string, int, bool) {
	data, _ := e.f.ReadFile("/etc/passwd")
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Split(l, ":")
		if len(f) > 2 && (f[0] == "tlog" || f[0] == "_tlog") {
			uid, err := strconv.Atoi(f[2])
			return f[0], uid, err == nil
		}
	}
	return "", 0, false
}

var checkTlog = doctorCheck{"tlog", func(e *doctorEnv) ([]finding, string) {
	if e.cfg.Recorder.Recorder != config.RecorderTlog {
		return nil, "skip: recorder = " + e.cfg.Recorder.Recorder + " (recd-session needs no lock directory and no SUID bit)"
	}
	builtin := "\nOr drop the SUID program: set recorder = builtin in [recorder] of " + e.a.ConfigPath +
		" (recd-session needs none of this: recd keeps the locks and writes the journal)"
	user, uid, ok := e.tlogUser()
	if !ok {
		return []finding{{check: "tlog", what: "there is no tlog user (tlog or _tlog) in /etc/passwd",
			why: "tlog-rec-session runs SUID/SGID to that user to keep its session locks and its journal writing out of the user's reach",
			fix: "reinstall tlog (yum reinstall tlog / apt-get install --reinstall tlog)" + builtin}}, ""
	}
	var found []finding
	fi, err := e.f.Stat("/run/tlog")
	var owner = -1
	if err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			owner = int(st.Uid)
		}
	}
	lockWhy := "tlog-rec-session takes a lock per audit session in /run/tlog so that a session is recorded once; " +
		"without a lock directory it can write, it refuses to record"
	switch {
	case err != nil:
		found = append(found, finding{check: "tlog", what: "tlog's lock directory /run/tlog does not exist", why: lockWhy,
			fix: "systemd-tmpfiles --create /usr/lib/tmpfiles.d/tlog.conf" + builtin})
	case !fi.IsDir() || owner != uid:
		found = append(found, finding{check: "tlog", what: fmt.Sprintf("/run/tlog is not a directory owned by %s (uid %d)", user, uid),
			why: lockWhy, fix: fmt.Sprintf("install -d -o %s -g %s -m 0755 /run/tlog", user, user) + builtin})
	}
	bin, err := e.f.Stat(activate.TlogRecorder)
	if err == nil {
		st, _ := bin.Sys().(*syscall.Stat_t)
		if bin.Mode()&fs.ModeSetuid == 0 || st == nil || int(st.Uid) != uid {
			fix := "rpm --setugids tlog && rpm --setperms tlog"
			if e.d.Family == sysconf.Debian {
				fix = fmt.Sprintf("dpkg-statoverride --update --add %s %s 6755 %s", user, user, activate.TlogRecorder)
			}
			found = append(found, finding{check: "tlog",
				what: fmt.Sprintf("%s is not SUID to %s (mode %v)", activate.TlogRecorder, user, bin.Mode()),
				why: "running as the user, tlog-rec-session cannot take its locks in /run/tlog and the user can " +
					"kill or trace it to silence the recording",
				fix: fix + builtin})
		}
	}
	if len(found) > 0 {
		return found, ""
	}
	return nil, fmt.Sprintf("/run/tlog owned by %s, %s SUID %s", user, activate.TlogRecorder, user)
}}
