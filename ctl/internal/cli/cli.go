// Package cli implements recctl's commands. main only builds an App for
// the real system and calls Run; tests build one with their own paths,
// directory, UID and output buffers.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/policy"
	"github.com/recd-dev/recd/internal/proto"
	"github.com/recd-dev/recd/internal/snapshot"
	"github.com/recd-dev/recd/internal/sssdimport"
	"github.com/recd-dev/recd/recd/dbusapi"
)

// Exit codes of recctl.
const (
	ExitOK          = 0 // success; for check: everybody asked about is recorded
	ExitNegative    = 1 // check: somebody is not recorded
	ExitUsage       = 2 // usage or configuration error
	ExitUnreachable = 3 // reserved: the daemon is unreachable
	ExitNotRoot     = 4 // recctl was not run as root
)

// App is one run of recctl with its environment.
type App struct {
	Stdout, Stderr io.Writer
	// UID is the caller's user ID; commands require 0.
	UID int
	// Directory is the user and group database.
	Directory policy.Directory
	// ConfigPath and DropinDir are recd's configuration (overridden by
	// --config and --conf-dir).
	ConfigPath, DropinDir string
	// SSSDPath and SSSDDropinDir are SSSD's configuration, for import-sssd.
	SSSDPath, SSSDDropinDir string
	// SnapshotPath is the compiled policy the C modules read; SocketPath is recd's socket.
	SnapshotPath, SocketPath string
	// Reload, when set, activates the configuration after an edit wrote it (New sets it to
	// the same activation `recctl reload` does; tests leave it nil).
	Reload func() int
	// PAMTestPath is the recd-pam-test helper that `recctl test-login` execs (see
	// PAMTestPath the constant for why it is a separate program).
	PAMTestPath string
	// DBusAddress is the bus on which policy edits look for recd's D-Bus API (New sets the
	// system bus; tests leave it empty, so that they never touch a bus). See dbus.go.
	DBusAddress string
	// busResult is recd's answer when it made the last edit over D-Bus.
	busResult *dbusapi.EditResult
	// Host is the machine enable, disable and doctor act on (zero: the running system).
	Host Host
}

// New returns an App for the running system.
func New() *App {
	a := &App{
		Stdout: os.Stdout, Stderr: os.Stderr, UID: os.Getuid(), Directory: policy.System(),
		ConfigPath: config.DefaultPath, DropinDir: config.DefaultDropinDir,
		SSSDPath: sssdimport.DefaultPath, SSSDDropinDir: sssdimport.DefaultDropinDir,
		SnapshotPath: snapshot.Path, SocketPath: proto.SocketPath, PAMTestPath: pamTestPath(),
		DBusAddress: dbusapi.SystemBusAddress(),
	}
	a.Reload = a.activate
	return a
}

type command struct {
	name, args, summary, help string
	run                       func(a *App, fs *flag.FlagSet, args []string) int
	setup                     func(fs *flag.FlagSet) // extra flags
	anyUser                   bool                   // may run as non-root (decides access itself)
}

var commands []command

func init() {
	commands = []command{
		{name: "policy", summary: "show the effective recording policy and where each value is set",
			help: "Prints the [session_recording] policy in force after reading the main file and the\n" +
				"drop-ins, the file:line that set each value, and the keys the scope ignores.\n\nExample:\n  recctl policy",
			run: (*App).cmdPolicy},
		{name: "check", args: "USER...", summary: "say whether each user's sessions are recorded, and why",
			help: "Exit status: 0 if every user is recorded, 1 if any is not, 2 on an error\n(such as an unknown user; the others are still checked).\n\nExample:\n  recctl check alice bob",
			run:  (*App).cmdCheck},
		{name: "scope", args: "none|some|all", summary: "set the scope",
			help: "none records nobody; some records `users` and members of `groups`;\nall records everybody except `exclude-users` and members of `exclude-groups`.\n\nExample:\n  recctl scope some",
			run:  (*App).cmdScope},
	}
	for _, k := range []string{config.KeyUsers, config.KeyGroups, config.KeyExcludeUsers, config.KeyExcludeGroups} {
		key := k
		name := strings.ReplaceAll(key, "_", "-")
		what := "user"
		if strings.Contains(key, "group") {
			what = "group"
		}
		commands = append(commands, command{name: name, args: "add|remove|set NAME...",
			summary: "edit the " + key + " list",
			help: fmt.Sprintf("Edits %s in [session_recording] of the main file. A %s that does not exist\n"+
				"is accepted with a warning. `set` with no names empties the list.\n\nExamples:\n  recctl %s add NAME1 NAME2\n  recctl %s remove NAME1\n  recctl %s set",
				key, what, name, name, name),
			run: func(a *App, fs *flag.FlagSet, args []string) int { return a.cmdList(key, fs, args) }})
	}
	commands = append(commands, command{name: "import-sssd", args: "[--dry-run] [FILE...]",
		summary: "write the policy of SSSD's [session_recording] into recd.conf",
		help:    "Reads [session_recording] from the FILEs (default: /etc/sssd/sssd.conf then\n/etc/sssd/conf.d/*.conf; later files override earlier ones) and sets all five\nkeys in recd.conf so the policy is exactly equivalent.\n\nExamples:\n  recctl import-sssd --dry-run\n  recctl import-sssd /etc/sssd/sssd.conf",
		run:     (*App).cmdImportSSSD,
		setup:   func(fs *flag.FlagSet) { fs.Bool("dry-run", false, "print what would be written, write nothing") }},
		command{name: "reload", summary: "validate the configuration and make it the policy in force",
			help: "Through recd when it runs (recd also reloads by itself when the files change),\n" +
				"directly otherwise. A configuration that fails validation is refused with its\n" +
				"file, line and key; the policy in force is then unchanged.\n\nExit status: 0 activated, 2 refused, 3 recd did not answer.\n\nExample:\n  recctl reload",
			run: (*App).cmdReload},
		command{name: "status", summary: "show recd's state, the policy in force and any configuration error",
			help: "Exit status: 0 all well, 1 the configuration on disk has an error (the last good\n" +
				"policy stays in force), 3 recd is not running (and the configuration is valid).\n\nExample:\n  recctl status",
			run: (*App).cmdStatus},
		command{name: "test-login", args: "USER [--service NAME] [--confdir DIR]",
			summary: "run a real PAM session for USER and say whether the login would be recorded",
			help: "Runs pam_acct_mgmt, pam_open_session and pam_close_session of the service's PAM stack\n" +
				"for USER (no authentication step), prints the PAM environment the session yields, the\n" +
				"shell NSS gives USER and the recorder of the policy in force. The login is recorded\n" +
				"when that shell is the recorder and TLOG_REC_SESSION_SHELL is set. The session is\n" +
				"real: its modules run (pam_recd registers it with recd, pam_unix logs it).\n" +
				"--service defaults to login; --confdir reads the service from DIR instead of\n" +
				"/etc/pam.d (Linux-PAM 1.4 or later). Needs the helper " + PAMTestPath + ".\n\n" +
				"Exit status: 0 would be recorded, 1 would not, 2 error.\n\n" +
				"Examples:\n  recctl test-login alice\n  recctl test-login alice --service sshd",
			run: (*App).cmdTestLogin,
			setup: func(fs *flag.FlagSet) {
				fs.String("service", "login", "PAM service")
				fs.String("confdir", "", "PAM configuration directory")
			}})
	commands = append(commands,
		command{name: "list", args: "[--user U] [--host H] [--since T] [--until T] [--grep TEXT] [--status S] [--json] [--file PATH]... [--directory DIR]",
			summary: "list the recordings in the journal, one row each", help: listHelp, run: (*App).cmdListRecordings, setup: listSetup, anyUser: true},
		command{name: "play", args: "ID [--speed X] [--goto TIME] [--paused] [--follow] [--lax] [--raw] [--file PATH]... [--directory DIR]",
			summary: "play a recording in the terminal, with seeking", help: playHelp, run: (*App).cmdPlay, setup: playSetup, anyUser: true},
		command{name: "export", args: "ID --format asciicast|text|tlog [-o FILE] [--lax] [--file PATH]... [--directory DIR]",
			summary: "write a recording as asciicast v2, plain text or tlog JSON lines", help: exportHelp, run: (*App).cmdExport, setup: exportSetup, anyUser: true},
		command{name: "verify", args: "ID... [--file PATH]... [--directory DIR]",
			summary: "check that recordings are whole and authentic (hash chain, ids, close entry)", help: verifyHelp, run: (*App).cmdVerify, setup: sourceFlags, anyUser: true},
		command{name: "sessions", args: "[--json]", summary: "list the sessions being recorded now, from recd", help: sessionsHelp, run: (*App).cmdSessions, setup: sessionsSetup, anyUser: true},
		command{name: "watch", args: "ID [--raw]", summary: "watch a session being recorded, live and read-only", help: watchHelp, run: (*App).cmdWatch, setup: watchSetup, anyUser: true})
	commands = append(commands, enableCommand, disableCommand, doctorCommand)
}

func (a *App) usage(w io.Writer) {
	fmt.Fprint(w, `Usage: recctl [--config PATH] [--conf-dir DIR] COMMAND [ARGS...]

recctl manages recd, which records the terminal sessions of chosen users.
Every command must be run as root, except list, play, export, verify and
sessions, which show any user their own recordings (and auditors everyone's),
and watch, which is for root and auditors.

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-15s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Global options:
  --config PATH    main configuration file (default /etc/recd/recd.conf)
  --conf-dir DIR   drop-in directory (default /etc/recd/conf.d)

Exit status: 0 ok, 1 negative answer (check), 2 usage or configuration error,
3 daemon unreachable, 4 not root.

Examples:
  recctl policy
  recctl check alice
  recctl scope some
  recctl users add alice
  recctl import-sssd --dry-run
  recctl reload
  recctl test-login alice --service sshd

Run 'recctl COMMAND --help' for a command's usage.
`)
}

// Run runs recctl with args (without the program name) and returns the
// exit status.
func (a *App) Run(args []string) int {
	fs := flag.NewFlagSet("recctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.ConfigPath, "config", a.ConfigPath, "")
	fs.StringVar(&a.DropinDir, "conf-dir", a.DropinDir, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.usage(a.Stdout)
			return ExitOK
		}
		fmt.Fprintf(a.Stderr, "recctl: %v\n", err)
		a.usage(a.Stderr)
		return ExitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		a.usage(a.Stderr)
		return ExitUsage
	}
	if rest[0] == "help" {
		if len(rest) > 1 {
			return a.Run([]string{rest[1], "--help"})
		}
		a.usage(a.Stdout)
		return ExitOK
	}
	for _, c := range commands {
		if c.name != rest[0] {
			continue
		}
		cfs := flag.NewFlagSet("recctl "+c.name, flag.ContinueOnError)
		cfs.SetOutput(io.Discard)
		if c.setup != nil {
			c.setup(cfs)
		}
		printHelp := func(w io.Writer) {
			fmt.Fprintf(w, "Usage: recctl %s %s\n\n%s\n\n%s\n", c.name, c.args, capitalize(c.summary)+".", c.help)
		}
		if err := cfs.Parse(rest[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printHelp(a.Stdout)
				return ExitOK
			}
			fmt.Fprintf(a.Stderr, "recctl: %s: %v\n", c.name, err)
			printHelp(a.Stderr)
			return ExitUsage
		}
		if a.UID != 0 && !c.anyUser {
			fmt.Fprintf(a.Stderr, "recctl: must be run as root (you are uid %d)\n", a.UID)
			return ExitNotRoot
		}
		return c.run(a, cfs, cfs.Args())
	}
	fmt.Fprintf(a.Stderr, "recctl: unknown command %q\n", rest[0])
	a.usage(a.Stderr)
	return ExitUsage
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (a *App) errorf(format string, args ...any) int {
	fmt.Fprintf(a.Stderr, "recctl: "+format+"\n", args...)
	return ExitUsage
}

func (a *App) load() (*config.Config, error) {
	return config.Load(a.ConfigPath, a.DropinDir)
}
