package cli

// recctl list, and what list, play, export and verify share: where the journal is read
// from (--file, --directory), who may read what (root, the [access] auditors group, or a
// user their own recordings), and flags given after positional arguments.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/recd-dev/recd/internal/journal"
	"github.com/recd-dev/recd/internal/policy"
	"github.com/recd-dev/recd/internal/recording"
)

// journalctlPath is the journalctl the reading commands run ("" = from PATH); tests
// replace it.
var journalctlPath = ""

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }
func (s *stringsFlag) Get() any           { return []string(*s) }

const sourceHelp = "Sources (all reading commands):\n" +
	"  --file PATH       read this journal file instead of the system journal (repeat it for\n" +
	"                    more files; journalctl's globs work: --file '/srv/j/*.journal')\n" +
	"  --directory DIR   read the journal files in DIR, e.g. systemd-journal-remote's store\n" +
	"                    /var/log/journal/remote, where the recordings of many hosts mix\n" +
	"  Without either, the system journal of this host and the remote journals kept on it.\n" +
	"  The journal is read with journalctl -o json (systemd 219 or later).\n"

const accessHelp = "Access: root and members of the group named by `auditors` in the [access] section\n" +
	"of recd.conf read every recording; any other user only their own. Reading the system\n" +
	"journal also needs read access to its files (root, the systemd-journal or adm group, or\n" +
	"an ACL for the auditors group); without it recctl says so and exits with status 4.\n"

func sourceFlags(fs *flag.FlagSet) {
	fs.Var(&stringsFlag{}, "file", "journal file (repeatable)")
	fs.String("directory", "", "journal directory")
}

func flagString(fs *flag.FlagSet, name string) string { return fs.Lookup(name).Value.String() }

func flagBool(fs *flag.FlagSet, name string) bool {
	return fs.Lookup(name).Value.(flag.Getter).Get().(bool)
}

func (a *App) source(fs *flag.FlagSet) journal.Source {
	return journal.Source{
		Files:      fs.Lookup("file").Value.(flag.Getter).Get().([]string),
		Directory:  flagString(fs, "directory"),
		Journalctl: journalctlPath,
	}
}

// interleaved parses flags that may come before, between or after positional arguments
// (recctl play ID --speed 2). It returns the positional arguments.
func interleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		if !strings.HasPrefix(args[0], "-") || args[0] == "-" {
			pos = append(pos, args[0])
			args = args[1:]
			continue
		}
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
	}
	return pos, nil
}

// parseArgs is interleaved with recctl's handling of --help and usage errors.
func (a *App) parseArgs(name string, fs *flag.FlagSet, args []string) ([]string, int, bool) {
	pos, err := interleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		a.commandHelp(name, a.Stdout)
		return nil, ExitOK, false
	}
	if err != nil {
		fmt.Fprintf(a.Stderr, "recctl: %s: %v\n", name, err)
		a.commandHelp(name, a.Stderr)
		return nil, ExitUsage, false
	}
	return pos, 0, true
}

func (a *App) commandHelp(name string, w io.Writer) {
	for _, c := range commands {
		if c.name == name {
			fmt.Fprintf(w, "Usage: recctl %s %s\n\n%s\n\n%s\n", c.name, c.args, capitalize(c.summary)+".", c.help)
		}
	}
}

// reader is who is reading recordings: everything (root, auditors) or one user's own.
type reader struct {
	all  bool
	name string // the caller's user name
	uid  int
}

// readerAccess decides what the caller may read.
func (a *App) readerAccess() (reader, error) {
	if a.UID == 0 {
		return reader{all: true, name: "root"}, nil
	}
	name, err := a.userName(a.UID)
	if err != nil {
		return reader{}, fmt.Errorf("cannot find the name of uid %d: %v", a.UID, err)
	}
	r := reader{name: name, uid: a.UID}
	c, err := a.load()
	if err != nil {
		fmt.Fprintf(a.Stderr, "recctl: warning: cannot read recd's configuration, so the [access] auditors group is unknown: %v\n", err)
		return r, nil
	}
	if g := c.Access.Auditors; g != "" && a.inGroup(name, g) {
		r.all = true
	}
	return r, nil
}

// userName finds the name of uid in the App's user database.
func (a *App) userName(uid int) (string, error) {
	if fd, ok := a.Directory.(*policy.FilesDirectory); ok {
		f, err := os.Open(fd.PasswdPath)
		if err != nil {
			return "", err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Split(sc.Text(), ":")
			if len(fields) >= 3 && fields[2] == strconv.Itoa(uid) && fields[0] != "" {
				return fields[0], nil
			}
		}
		return "", fmt.Errorf("uid %d is not in %s", uid, fd.PasswdPath)
	}
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return "", err
	}
	return u.Username, nil
}

// inGroup reports whether user name is in group g: primary group, listed member, or (for
// the running process) a supplementary group of the process.
func (a *App) inGroup(name, g string) bool {
	grp, err := a.Directory.LookupGroup(g)
	if err != nil {
		return false
	}
	for _, m := range grp.Members {
		if m == name {
			return true
		}
	}
	if u, err := a.Directory.LookupUser(name); err == nil && u.GID == grp.GID {
		return true
	}
	if a.UID == os.Getuid() {
		if gids, err := os.Getgroups(); err == nil {
			for _, gid := range gids {
				if uint32(gid) == grp.GID {
					return true
				}
			}
		}
	}
	return false
}

// readError prints an error from reading the journal and returns the exit status: 4 for
// a permission problem (with what to do about it), 2 otherwise.
func (a *App) readError(cmd string, r reader, err error) int {
	var pe *journal.PermissionError
	if errors.As(err, &pe) {
		who := fmt.Sprintf("uid %d", a.UID)
		if r.name != "" {
			who += " (" + r.name + ")"
		}
		fmt.Fprintf(a.Stderr, "recctl: %s: %s cannot read the journal: %s.\n"+
			"Recordings are in the system journal, which only root and members of the groups its\n"+
			"ACLs grant (systemd-journal, adm, or recd's auditors group) may read. Run recctl as\n"+
			"root, or ask for membership of one of those groups.\n", cmd, who, pe.Message)
		return ExitNotRoot
	}
	var nf *recording.NotFoundError
	if errors.As(err, &nf) {
		fmt.Fprintf(a.Stderr, "recctl: %s: %v (recctl list shows the recordings)\n", cmd, err)
		return ExitUsage
	}
	fmt.Fprintf(a.Stderr, "recctl: %s: %v\n", cmd, err)
	return ExitUsage
}

// checkSource fails early when the caller cannot read the journal files.
func (a *App) checkSource(cmd string, r reader, src journal.Source) (int, bool) {
	if a.UID == 0 {
		return 0, true
	}
	if err := src.CheckAccess(); err != nil {
		return a.readError(cmd, r, err), false
	}
	return 0, true
}

// loadRecording reads one recording and checks the caller may read it.
func (a *App) loadRecording(ctx context.Context, cmd string, r reader, src journal.Source, id string) (*recording.Recording, int) {
	if code, ok := a.checkSource(cmd, r, src); !ok {
		return nil, code
	}
	rec, err := recording.Load(ctx, src, id)
	if err != nil {
		return nil, a.readError(cmd, r, err)
	}
	if !r.all {
		if u := rec.Summary().User; u != r.name {
			fmt.Fprintf(a.Stderr, "recctl: %s: recording %s is %s's: only root and members of the auditors group may read other users' recordings\n", cmd, id, u)
			return nil, ExitNotRoot
		}
	}
	return rec, ExitOK
}

// signalContext is cancelled by SIGINT, SIGTERM or SIGHUP.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
}

const listHelp = "Prints one row per recording: its ID, user, host, service and terminal, remote host,\n" +
	"start time, duration, bytes of output recorded and status, oldest first (newest last,\n" +
	"like journalctl). Recordings made by recd and by tlog (tlog-rec, tlog-rec-session) are\n" +
	"both listed.\n\n" +
	"Status: complete (closed normally), aborted (the recorder vanished), truncated (output\n" +
	"was dropped by the rate limit or lost), live (no close entry yet: still recording, or\n" +
	"recd stopped before closing it) — all from recd's close entry — and unverified (made by\n" +
	"tlog: no close entry and no hash chain).\n\n" +
	"Options:\n" +
	"  --user USER       only USER's recordings\n" +
	"  --host HOST       only recordings made on HOST (the journal's _HOSTNAME)\n" +
	"  --since TIME      only recordings with entries at or after TIME\n" +
	"  --until TIME      only recordings with entries at or before TIME\n" +
	"                    TIME takes journalctl's formats: \"2026-11-01 10:00\", \"yesterday\",\n" +
	"                    \"today\", \"-2h\", \"@1793527200\" (seconds since the epoch)\n" +
	"  --grep TEXT       only recordings whose output contains TEXT, escape sequences\n" +
	"                    stripped; TEXT without upper-case letters ignores case\n" +
	"  --status STATUS   complete, aborted, truncated, live or unverified\n" +
	"  --json            print a JSON array of objects instead of the table\n\n" +
	sourceHelp + "\n" + accessHelp + "\n" +
	"Exit status: 0 success (also when nothing matches), 2 usage error or the journal could\n" +
	"not be read, 4 permission denied.\n\n" +
	"Examples:\n" +
	"  recctl list --since today\n" +
	"  recctl list --user alice --grep 'rm -rf'\n" +
	"  recctl list --directory /var/log/journal/remote --host web1 --status aborted\n" +
	"  recctl list --json | jq -r '.[].id'"

func listSetup(fs *flag.FlagSet) {
	fs.String("user", "", "")
	fs.String("host", "", "")
	fs.String("since", "", "")
	fs.String("until", "", "")
	fs.String("grep", "", "")
	fs.String("status", "", "")
	fs.Bool("json", false, "")
	sourceFlags(fs)
}

// listRow is one recording in list --json.
type listRow struct {
	ID              string  `json:"id"`
	Recorder        string  `json:"recorder"`
	User            string  `json:"user"`
	Host            string  `json:"host"`
	Service         string  `json:"service,omitempty"`
	TTY             string  `json:"tty,omitempty"`
	RemoteHost      string  `json:"remote_host,omitempty"`
	Start           string  `json:"start"`
	End             string  `json:"end"`
	DurationSeconds float64 `json:"duration_seconds"`
	BytesOut        int64   `json:"bytes"`
	Messages        int     `json:"messages"`
	Status          string  `json:"status"`
	Reason          string  `json:"reason,omitempty"`
}

func (a *App) cmdListRecordings(fs *flag.FlagSet, args []string) int {
	pos, code, ok := a.parseArgs("list", fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return a.errorf("list: unexpected argument %q", pos[0])
	}
	o := recording.ListOptions{User: flagString(fs, "user"), Host: flagString(fs, "host"),
		Since: flagString(fs, "since"), Until: flagString(fs, "until"), Grep: flagString(fs, "grep")}
	if s := flagString(fs, "status"); s != "" {
		st, err := recording.ParseStatus(s)
		if err != nil {
			return a.errorf("list: --status: %v", err)
		}
		o.Status = st
	}
	r, err := a.readerAccess()
	if err != nil {
		return a.errorf("list: %v", err)
	}
	if !r.all {
		if o.User != "" && o.User != r.name {
			fmt.Fprintf(a.Stderr, "recctl: list: you may list only your own recordings (only root and members of the auditors group may list %s's)\n", o.User)
			return ExitNotRoot
		}
		o.User = r.name
	}
	src := a.source(fs)
	if code, ok := a.checkSource("list", r, src); !ok {
		return code
	}
	ctx, cancel := signalContext()
	defer cancel()
	list, err := recording.List(ctx, src, o)
	if err != nil {
		return a.readError("list", r, err)
	}
	if flagBool(fs, "json") {
		rows := make([]listRow, 0, len(list))
		for _, s := range list {
			rows = append(rows, listRow{ID: s.ID, Recorder: s.Recorder, User: s.User, Host: s.Host, Service: s.Service, TTY: s.TTY,
				RemoteHost: s.RemoteHost, Start: s.Start.Format(time.RFC3339Nano), End: s.End.Format(time.RFC3339Nano),
				DurationSeconds: s.Duration.Seconds(), BytesOut: s.BytesOut, Messages: s.Messages, Status: string(s.Status), Reason: s.Reason})
		}
		enc := json.NewEncoder(a.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return a.errorf("list: %v", err)
		}
		return ExitOK
	}
	tw := tabwriter.NewWriter(a.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tHOST\tSERVICE/TTY\tFROM\tSTART\tDURATION\tBYTES\tSTATUS")
	for _, s := range list {
		svc := dash(strings.Trim(s.Service+"/"+strings.TrimPrefix(s.TTY, "/dev/"), "/"))
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.ID, dash(s.User), dash(s.Host), svc, dash(s.RemoteHost),
			s.Start.Local().Format("2006-01-02 15:04:05"), clock(s.Duration), s.BytesOut, s.Status)
	}
	tw.Flush()
	if len(list) == 0 {
		fmt.Fprintln(a.Stderr, "recctl: list: no recordings match")
	}
	return ExitOK
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clock formats a duration as H:MM:SS.
func clock(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}
