package cli

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/recd-dev/recd/internal/activate"
	"github.com/recd-dev/recd/internal/policy"
	"github.com/recd-dev/recd/internal/proto"
	"github.com/recd-dev/recd/internal/snapshot"
)

// errNoDaemon means recd is not listening; recctl then does the work itself.
var errNoDaemon = errors.New("recd is not running")

// ask sends one request to recd and returns its answer, or errNoDaemon when nobody listens.
func (a *App) ask(req proto.Request) (*proto.Response, error) {
	c, err := net.DialTimeout("unix", a.SocketPath, 250*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("%w (%s: %v)", errNoDaemon, a.SocketPath, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := proto.WriteJSON(c, req); err != nil {
		return nil, fmt.Errorf("sending %q to recd: %w", req.Op, err)
	}
	var resp proto.Response
	if err := proto.ReadJSON(c, &resp); err != nil {
		return nil, fmt.Errorf("reading recd's answer to %q: %w", req.Op, err)
	}
	return &resp, nil
}

func (a *App) activation() activate.Options {
	o := activate.Options{ConfigPath: a.ConfigPath, DropinDir: a.DropinDir, SnapshotPath: a.SnapshotPath}
	if fd, ok := a.Directory.(*policy.FilesDirectory); ok {
		o.PasswdPath, o.GroupPath = fd.PasswdPath, fd.GroupPath
	}
	return o
}

// activate makes the configuration on disk the policy in force: through recd when it runs
// (so its status stays true), directly otherwise. It prints the outcome and returns the
// exit status.
func (a *App) activate() int {
	resp, err := a.ask(proto.Request{Op: "reload"})
	switch {
	case errors.Is(err, errNoDaemon):
		summary, err := a.activation().Activate()
		if err != nil {
			fmt.Fprintf(a.Stderr, "recctl: the configuration was not activated; the policy in force is unchanged:\n%v\n", err)
			return ExitUsage
		}
		fmt.Fprintf(a.Stdout, "Policy activated (recd is not running; compiled %s directly): %s\n", a.SnapshotPath, summary)
		return ExitOK
	case err != nil:
		fmt.Fprintf(a.Stderr, "recctl: %v\n", err)
		return ExitUnreachable
	case !resp.OK:
		fmt.Fprintf(a.Stderr, "recctl: recd refused the configuration; the policy in force is unchanged:\n%s\n", resp.Error)
		return ExitUsage
	}
	fmt.Fprintf(a.Stdout, "Policy activated by recd: %s\n", resp.Status.PolicySummary)
	return ExitOK
}

func (a *App) cmdReload(_ *flag.FlagSet, args []string) int {
	if len(args) > 0 {
		return a.errorf("reload: unexpected argument %q", args[0])
	}
	return a.activate()
}

func (a *App) cmdStatus(_ *flag.FlagSet, args []string) int {
	if len(args) > 0 {
		return a.errorf("status: unexpected argument %q", args[0])
	}
	code := ExitOK
	resp, err := a.ask(proto.Request{Op: "status"})
	switch {
	case errors.Is(err, errNoDaemon):
		fmt.Fprintf(a.Stdout, "recd:            not running (%s does not answer)\n", a.SocketPath)
		code = ExitUnreachable
	case err != nil:
		fmt.Fprintf(a.Stderr, "recctl: %v\n", err)
		return ExitUnreachable
	default:
		st := resp.Status
		fmt.Fprintf(a.Stdout, "recd:            running, pid %d, since %s\n", st.PID, st.Started)
		fmt.Fprintf(a.Stdout, "logins:          %d open (registered by pam_recd)\n", st.Sessions)
		if st.PolicyActivated != "" {
			fmt.Fprintf(a.Stdout, "last activation: %s (%d since start)\n", st.PolicyActivated, st.Reloads)
		}
		if st.LastError != "" {
			fmt.Fprintf(a.Stdout, "last error:      %s, the last good policy stays in force:\n%s\n", st.LastErrorAt, indent(st.LastError))
			code = ExitNegative
		}
	}
	snap, err := snapshot.Read(a.SnapshotPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		fmt.Fprintf(a.Stdout, "policy in force: none (%s does not exist): nobody is recorded\n", a.SnapshotPath)
	case err != nil:
		fmt.Fprintf(a.Stdout, "policy in force: none (%v): nobody is recorded\n", err)
		code = ExitNegative
	default:
		fmt.Fprintf(a.Stdout, "policy in force: %s\n", activate.Summary(snap))
	}
	// A configuration that would not activate is worth saying even when recd is down.
	if _, _, err := a.activation().Compile(); err != nil && code != ExitNegative {
		fmt.Fprintf(a.Stdout, "configuration:   does not validate; `recctl reload` would refuse it:\n%s\n", indent(err.Error()))
		code = ExitNegative
	}
	return code
}

func indent(s string) string {
	out := "  "
	for _, r := range s {
		out += string(r)
		if r == '\n' {
			out += "  "
		}
	}
	return out
}
