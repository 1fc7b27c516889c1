package cli

// recctl sessions: the recordings in progress, as recd has them.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/recd-dev/recd/internal/proto"
)

const sessionsHelp = "Prints one row per session being recorded now, as recd has it: the user, the\n" +
	"terminal, the remote host it came from, when the recording started, the bytes of output\n" +
	"recorded so far, whether the recorder is connected, and the recording ID (for recctl\n" +
	"watch, and for list, play, export and verify once it is in the journal).\n\n" +
	"STATE is recording, or reconnecting while recd waits for a recorder whose connection\n" +
	"dropped (recd restarted, or the recorder's buffer is draining).\n\n" +
	"Options:\n" +
	"  --json   print a JSON array of objects instead of the table\n\n" +
	"Access: root and members of the group named by `auditors` in the [access] section of\n" +
	"recd.conf see every session; any other user only their own (recctl says so).\n\n" +
	"Exit status: 0 success (also when no session is recorded), 2 usage error, 3 recd is not\n" +
	"running or did not answer.\n\n" +
	"Examples:\n" +
	"  recctl sessions\n" +
	"  recctl sessions --json | jq -r '.[] | select(.user == \"alice\") | .id'"

func sessionsSetup(fs *flag.FlagSet) { fs.Bool("json", false, "") }

// sessionRow is one session in sessions --json.
type sessionRow struct {
	ID           string `json:"id"`
	User         string `json:"user"`
	UID          uint32 `json:"uid"`
	Service      string `json:"service,omitempty"`
	TTY          string `json:"tty,omitempty"`
	From         string `json:"from,omitempty"`
	Mode         string `json:"mode"`
	Started      string `json:"started"`
	Bytes        uint64 `json:"bytes"`
	BytesIn      uint64 `json:"bytes_in"`
	Messages     uint64 `json:"messages"`
	Connected    bool   `json:"connected"`
	RecorderPID  int32  `json:"recorder_pid"`
	AuditSession uint32 `json:"audit_session"`
}

// daemonError prints why recd could not be asked and returns exit status 3.
func (a *App) daemonError(cmd string, err error) int {
	if errors.Is(err, errNoDaemon) {
		fmt.Fprintf(a.Stderr, "recctl: %s: recd is not running, so no session is being recorded (%v).\n"+
			"Start it with: systemctl start recd.socket recd.service\n", cmd, err)
		return ExitUnreachable
	}
	fmt.Fprintf(a.Stderr, "recctl: %s: %v\n", cmd, err)
	return ExitUnreachable
}

func (a *App) cmdSessions(fs *flag.FlagSet, args []string) int {
	pos, code, ok := a.parseArgs("sessions", fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return a.errorf("sessions: unexpected argument %q", pos[0])
	}
	resp, err := a.ask(proto.Request{Op: proto.OpSessions})
	if err != nil {
		return a.daemonError("sessions", err)
	}
	if !resp.OK {
		fmt.Fprintf(a.Stderr, "recctl: sessions: recd refused: %s\n", resp.Error)
		return ExitUsage
	}
	if a.UID != 0 {
		if r, err := a.readerAccess(); err == nil && !r.all {
			fmt.Fprintf(a.Stderr, "recctl: sessions: only your own sessions are shown (root and members of the auditors group see everyone's)\n")
		}
	}
	if flagBool(fs, "json") {
		return a.sessionsJSON(resp.Recordings)
	}
	writeSessions(a.Stdout, resp.Recordings)
	if len(resp.Recordings) == 0 {
		fmt.Fprintln(a.Stderr, "recctl: sessions: no session is being recorded")
	}
	return ExitOK
}

func (a *App) sessionsJSON(recs []proto.ActiveRecording) int {
	rows := make([]sessionRow, 0, len(recs))
	for _, r := range recs {
		rows = append(rows, sessionRow{ID: r.Rec, User: r.User, UID: r.UID, Service: r.Service, TTY: r.TTY, From: r.RHost,
			Mode: r.Mode, Started: r.Started, Bytes: r.BytesOut, BytesIn: r.BytesIn, Messages: r.Messages,
			Connected: r.Connected, RecorderPID: r.RecorderPID, AuditSession: r.AuditSession})
	}
	enc := json.NewEncoder(a.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rows); err != nil {
		return a.errorf("sessions: %v", err)
	}
	return ExitOK
}

// writeSessions prints the table; the ID is the last column, so that scripts (and the
// shell completion) find it with awk '{print $NF}'.
func writeSessions(w io.Writer, recs []proto.ActiveRecording) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tTTY\tFROM\tSTARTED\tBYTES\tSTATE\tID")
	for _, r := range recs {
		state := "recording"
		if !r.Connected {
			state = "reconnecting"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", dash(r.User), dash(sessionTTY(r)), dash(r.RHost), localTime(r.Started),
			r.BytesOut, state, r.Rec)
	}
	tw.Flush()
}

// sessionTTY is the terminal without /dev/, or the service and mode of a session without
// one (ssh host cmd, scp).
func sessionTTY(r proto.ActiveRecording) string {
	if r.Mode == proto.ModeCommand || r.TTY == "" || r.TTY == "ssh" {
		return strings.Trim(r.Service+"/"+r.Mode, "/")
	}
	return strings.TrimPrefix(r.TTY, "/dev/")
}

// localTime shows an RFC 3339 time from recd in local time, as list does.
func localTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return dash(s)
	}
	return t.Local().Format("2006-01-02 15:04:05")
}
