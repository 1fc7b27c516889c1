package cli

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/recd-dev/recd/ctl/internal/sysconf"
	"github.com/recd-dev/recd/internal/confedit"
	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/proto"
)

// Host is the machine that enable, disable and doctor look at and change. The zero value is
// the running system.
type Host struct {
	// Root is the host's "/": "" for the running system; a fixture tree in tests (or the
	// hidden --root flag). recd.conf, the socket and the state directory are looked for
	// under it unless --config/--conf-dir or the App's paths say otherwise.
	Root string
	// Run runs the host's programs (pam-auth-update, authselect, systemctl, semodule). The
	// default runs them on the running system, and refuses to on a --root tree.
	Run sysconf.Runner
	// Now stamps backups (default time.Now).
	Now func() time.Time
	// FreeBytes returns the free space of the file system holding path (doctor's journald
	// estimate; default statfs).
	FreeBytes func(path string) (uint64, error)
}

// hostFlags adds the hidden --root flag that enable, disable and doctor share.
func hostFlags(fs *flag.FlagSet) {
	fs.String("root", "", "act on the tree under DIR instead of / (for tests and inspection)")
}

var enableCommand = command{name: "enable", args: "[--scope none|some|all] [--dry-run]",
	summary: "wire recd into PAM and NSS for this distribution, and start it",
	help: "Detects the distribution family and wires recd in the way its tools expect:\n" +
		"  Debian, Ubuntu: pam-auth-update --enable recd; recd first on the passwd line of\n" +
		"                  /etc/nsswitch.conf\n" +
		"  CentOS/RHEL 7:  system-auth-local and password-auth-local (which include the\n" +
		"                  authconfig-managed -ac files) with pam_recd, and the system-auth and\n" +
		"                  password-auth links pointed at them; recd first in nsswitch.conf\n" +
		"  EL8 and later:  an authselect profile custom/recd derived from the current one,\n" +
		"                  selected with the current features\n" +
		"then runs systemctl enable --now recd.socket recd.service (on CentOS 7: enable, then\n" +
		"start). Every file touched is backed up under /var/lib/recd/backup; running enable\n" +
		"again changes nothing; recctl disable undoes it. It refuses, changing nothing, when\n" +
		"that cannot be done safely.\n" +
		"--scope also sets [session_recording] scope (as recctl scope does); --dry-run prints\n" +
		"the changes as a diff and makes none.\n\n" +
		"Exit status: 0 wired (or already), 1 refused or failed (nothing changed) or wired with\n" +
		"a problem left, 2 usage or configuration error.\n\n" +
		"Examples:\n  recctl enable --dry-run\n  recctl enable --scope some",
	run: (*App).cmdEnable,
	setup: func(fs *flag.FlagSet) {
		fs.String("scope", "", "also set the scope: none, some or all")
		fs.Bool("dry-run", false, "print the changes, make none")
		hostFlags(fs)
	}}

var disableCommand = command{name: "disable", args: "[--dry-run]",
	summary: "unwire recd from PAM and NSS, undoing recctl enable",
	help: "Undoes what recctl enable did: runs pam-auth-update --remove recd or selects the\n" +
		"previous authselect profile again, and puts every file enable changed back byte for\n" +
		"byte from the backup. A file that changed after enable is not put back: only recd's\n" +
		"lines are taken out of it, and recctl says so. recd itself keeps running for the\n" +
		"sessions still being recorded; if enable had enabled its units, they are disabled.\n" +
		"The recording policy in recd.conf is left as it is.\n\n" +
		"Exit status: 0 unwired (or nothing to do), 1 refused or failed (nothing changed).\n\n" +
		"Examples:\n  recctl disable --dry-run\n  recctl disable",
	run: (*App).cmdDisable,
	setup: func(fs *flag.FlagSet) {
		fs.Bool("dry-run", false, "print the changes, make none")
		hostFlags(fs)
	}}

// host returns the file system and options enable, disable and doctor work with, and
// points recd.conf and the socket into --root when it is given.
func (a *App) host(fs *flag.FlagSet) (sysconf.Options, error) {
	root := a.Host.Root
	if fl := fs.Lookup("root"); fl != nil && fl.Value.String() != "" {
		root = fl.Value.String()
	}
	rooted := root != "" && filepath.Clean(root) != "/"
	if rooted {
		abs, err := filepath.Abs(root)
		if err != nil {
			return sysconf.Options{}, err
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return sysconf.Options{}, fmt.Errorf("--root %s is not a directory", root)
		}
		root = abs
		inRoot := func(p *string, def string) {
			if *p == def {
				*p = filepath.Join(root, def)
			}
		}
		inRoot(&a.ConfigPath, config.DefaultPath)
		inRoot(&a.DropinDir, config.DefaultDropinDir)
		inRoot(&a.SocketPath, proto.SocketPath)
	} else {
		root = "/"
	}
	run := a.Host.Run
	if run == nil {
		run = sysconf.ExecRunner
		if rooted {
			run = sysconf.NoRunner
		}
	}
	return sysconf.Options{FS: sysconf.FS{Root: root}, Run: run, Now: a.Host.Now}, nil
}

// daemonRunning reports whether recd answers a status request.
func (a *App) daemonRunning() bool {
	resp, err := a.ask(proto.Request{Op: "status"})
	return err == nil && resp.OK
}

func enableBoolFlag(fs *flag.FlagSet, name string) bool {
	return fs.Lookup(name).Value.(flag.Getter).Get().(bool)
}

func (a *App) cmdEnable(fs *flag.FlagSet, args []string) int {
	if len(args) > 0 {
		return a.errorf("enable: unexpected argument %q", args[0])
	}
	dry := enableBoolFlag(fs, "dry-run")
	scopeArg := fs.Lookup("scope").Value.String()
	var scope config.Scope
	if scopeArg != "" {
		var err error
		if scope, err = config.ParseScope(scopeArg); err != nil {
			return a.errorf("enable: --scope: %v", err)
		}
	}
	o, err := a.host(fs)
	if err != nil {
		return a.errorf("enable: %v", err)
	}
	// Logins are about to depend on the configuration: it must be valid first.
	if _, err := a.load(); err != nil {
		return a.errorf("enable: the configuration does not validate; fix it first (then run recctl enable again):\n%v", err)
	}
	d, err := sysconf.Detect(o.FS)
	if err != nil {
		return a.errorf("enable: %v", err)
	}
	o.DaemonRunning = a.daemonRunning()
	fmt.Fprintf(a.Stdout, "Distribution: %s\n", d)
	p, err := sysconf.PlanEnable(o, d)
	if err != nil {
		return a.refused("enable", err)
	}
	if dry {
		return a.dryRun("enable", o.FS, p, scopeArg, scope)
	}
	rep, err := sysconf.Execute(o, p)
	a.printOutputs(rep)
	if err != nil {
		fmt.Fprintf(a.Stderr, "recctl: enable: %v\n", err)
		return ExitNegative
	}
	if p.Empty() {
		fmt.Fprintln(a.Stdout, "recd is already wired into PAM and NSS: nothing to change.")
	} else {
		a.printReport(rep)
	}
	code := ExitOK
	if scopeArg != "" {
		res, err := a.editor().Apply(confedit.SetScope(scope))
		if err != nil {
			fmt.Fprintf(a.Stderr, "recctl: enable: setting the scope: %v\n", err)
			return ExitUsage
		}
		if c := a.report(res); c != ExitOK {
			code = c
		}
	}
	a.printNotes(rep.Notes)
	// Check the result the way doctor does: a login service whose stack does not reach the
	// files enable changed needs a hand.
	env := a.newDoctorEnv(o, d)
	var left []finding
	for _, c := range []doctorCheck{checkNSS, checkPAM} {
		fs, _ := c.fn(env)
		left = append(left, fs...)
	}
	if len(left) > 0 {
		fmt.Fprintln(a.Stdout, "\nLeft to do:")
		for _, f := range left {
			f.print(a.Stdout)
		}
		return ExitNegative
	}
	if code == ExitOK {
		fmt.Fprintln(a.Stdout, "recd is wired in. Run `recctl doctor` to check the rest of the setup.")
	}
	return code
}

func (a *App) cmdDisable(fs *flag.FlagSet, args []string) int {
	if len(args) > 0 {
		return a.errorf("disable: unexpected argument %q", args[0])
	}
	dry := enableBoolFlag(fs, "dry-run")
	o, err := a.host(fs)
	if err != nil {
		return a.errorf("disable: %v", err)
	}
	d, err := sysconf.Detect(o.FS)
	if err != nil {
		return a.errorf("disable: %v", err)
	}
	fmt.Fprintf(a.Stdout, "Distribution: %s\n", d)
	p, err := sysconf.PlanDisable(o, d)
	if err != nil {
		return a.refused("disable", err)
	}
	if dry {
		return a.dryRun("disable", o.FS, p, "", 0)
	}
	rep, err := sysconf.Execute(o, p)
	a.printOutputs(rep)
	if err != nil {
		fmt.Fprintf(a.Stderr, "recctl: disable: %v\n", err)
		return ExitNegative
	}
	if p.Empty() {
		fmt.Fprintln(a.Stdout, "recd is not wired into PAM and NSS: nothing to change.")
	} else {
		a.printReport(rep)
		fmt.Fprintln(a.Stdout, "recd is unwired: new logins are not recorded. The policy in recd.conf is unchanged.")
	}
	a.printNotes(rep.Notes)
	return ExitOK
}

func (a *App) refused(cmd string, err error) int {
	if sysconf.IsRefusal(err) {
		fmt.Fprintf(a.Stderr, "recctl: %s: refused: %v\nNothing was changed.\n", cmd, err)
	} else {
		fmt.Fprintf(a.Stderr, "recctl: %s: %v\nNothing was changed.\n", cmd, err)
	}
	return ExitNegative
}

func (a *App) dryRun(cmd string, f sysconf.FS, p *sysconf.Plan, scopeArg string, scope config.Scope) int {
	if p.Empty() && scopeArg == "" {
		fmt.Fprintf(a.Stdout, "Dry run: recctl %s would change nothing.\n", cmd)
	} else {
		fmt.Fprintf(a.Stdout, "Dry run: recctl %s would make these changes (nothing is changed now):\n\n", cmd)
		fmt.Fprint(a.Stdout, p.Render(f))
	}
	if scopeArg != "" {
		res, err := a.editor().Plan(confedit.SetScope(scope))
		if err != nil {
			return a.errorf("%s: setting the scope: %v", cmd, err)
		}
		old, _ := os.ReadFile(a.ConfigPath)
		if d := sysconf.UnifiedDiff("a"+a.ConfigPath, "b"+a.ConfigPath, old, []byte(res.Text)); d != "" {
			fmt.Fprintf(a.Stdout, "# %s: scope = %s, then activated\n%s", a.ConfigPath, scope, d)
		} else {
			fmt.Fprintf(a.Stdout, "%s: scope is already %s\n", a.ConfigPath, scope)
		}
	}
	a.printNotes(p.Notes)
	return ExitOK
}

func (a *App) printOutputs(rep *sysconf.Report) {
	if rep == nil {
		return
	}
	for _, o := range rep.Outputs {
		fmt.Fprintf(a.Stdout, "%s\n", o)
	}
}

func (a *App) printReport(rep *sysconf.Report) {
	if len(rep.Changed) > 0 {
		fmt.Fprintln(a.Stdout, "Changed:")
		for _, c := range rep.Changed {
			fmt.Fprintf(a.Stdout, "  %s\n", c)
		}
	}
	if rep.BackupDir != "" {
		fmt.Fprintf(a.Stdout, "Backup of everything touched: %s\n", rep.BackupDir)
	}
}

func (a *App) printNotes(notes []string) {
	for _, n := range notes {
		fmt.Fprintf(a.Stdout, "Note: %s.\n", strings.TrimSuffix(n, "."))
	}
}
