package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/proto"
)

// resumeReadTimeout bounds reading a recording back from the journal.
const resumeReadTimeout = 2 * time.Minute

// maxResumeReads bounds the journal reads (journalctl runs) at a time.
const maxResumeReads = 4

// errOwnRecording is the answer to a resume of someone else's recording.
const errOwnRecording = "a client can only write to its own recording"

// serveRecording handles a connection that sent OpRecordOpen: it decides (nested, new,
// resumed, refused), answers, and then reads the recording stream until the connection
// ends. The connection's identity is cred (SO_PEERCRED), never what the request says.
func (d *Daemon) serveRecording(c *net.UnixConn, cred *syscall.Ucred, req proto.Request) {
	rc := newRecConn(c)
	defer rc.close()
	r, a, resp := d.admit(cred, req.Record, rc)
	if r == nil {
		_ = rc.respond(resp)
		return
	}
	select {
	case r.attachC <- a:
	case <-r.done:
		_ = rc.respond(proto.Response{Error: "the recording has just ended"})
		return
	}
	if !<-a.reply {
		return
	}
	r.readConn(rc)
}

func (d *Daemon) recorderConfig() config.Recorder {
	if d.opts.Recorder != nil {
		return d.opts.Recorder()
	}
	return config.Default().Recorder
}

func validOpen(o *proto.RecordOpen) error {
	if o == nil {
		return fmt.Errorf("%s without a record", proto.OpRecordOpen)
	}
	if o.Mode != proto.ModeTTY && o.Mode != proto.ModeCommand {
		return fmt.Errorf("unknown recording mode %q", o.Mode)
	}
	for name, v := range map[string]string{"term": o.Term, "shell": o.Shell, "command": o.Command, "tty": o.TTY} {
		if len(v) > maxOpenField {
			return fmt.Errorf("%s of %d bytes (limit %d)", name, len(v), maxOpenField)
		}
	}
	if o.Resume != nil && len(o.Resume.Rec) > 200 {
		return fmt.Errorf("malformed recording ID")
	}
	return nil
}

// admit decides what a record-open gets. It returns the recording and how to attach the
// connection to it, or nil and the answer to send.
func (d *Daemon) admit(cred *syscall.Ucred, open *proto.RecordOpen, rc *recConn) (*recording, attachReq, proto.Response) {
	var none attachReq
	cfg := d.recorderConfig()
	user, err := d.lookupName(cred.Uid)
	if err != nil || user == "" {
		user = strconv.FormatUint(uint64(cred.Uid), 10)
	}
	if err := validOpen(open); err != nil {
		return nil, none, proto.Response{Error: "bad request: " + err.Error()}
	}
	// cannot answers a recording recd cannot make: refused for on_unavailable = deny
	// (root is never refused), else an error, with which the recorder lets the session
	// run unrecorded.
	cannot := func(reason string) (*recording, attachReq, proto.Response) {
		if cred.Uid == 0 || d.guard.firstAbuse(cred, abuseRecordingRefused) { // a client's repeats are summed up
			d.refusedEvent(user, cred.Uid, cred.Pid, reason)
		}
		// A session already being recorded is never refused on a resume: the recorder
		// keeps buffering and tries again.
		if cfg.OnUnavailable == config.UnavailableDeny && cred.Uid != 0 && open.Resume == nil {
			return nil, none, proto.Response{OK: true, Record: &proto.RecordGrant{
				Refused:  "This session must be recorded, and recording is not possible now (" + reason + "). Please try again later or contact the administrator.",
				Settings: settingsOf(&cfg),
			}}
		}
		return nil, none, proto.Response{Error: "recd cannot record this session: " + reason}
	}
	p, err := d.proc(cred.Pid)
	if err != nil {
		return cannot(fmt.Sprintf("cannot read the recorder process %d: %v", cred.Pid, err))
	}
	if d.bootID == "" {
		return cannot("the boot ID is unknown")
	}
	if d.writer == nil {
		return cannot("the journal writer is not running")
	}
	if err := d.writer.Healthy(); err != nil {
		return cannot(err.Error())
	}
	me := procRef{pid: cred.Pid, start: p.Start}
	rec := recID(d.bootID, cred.Pid, p.Start)
	audit, ok := d.auditSessionOf(cred.Pid)
	if !ok {
		audit = proto.AuditSessionUnset
	}
	anc := d.ancestors(cred.Pid)
	login, sess, matched := d.sessions.loginOf(cred.Pid, anc)
	if matched && audit == proto.AuditSessionUnset {
		audit = sess.auditSession
	}
	// The terminal: the recorder's own as /proc shows it, else as it says (PAM_TTY of an
	// ssh login is "ssh", the session's pseudo-terminal comes later).
	if t := ttyName(p.TTY); t != "" {
		login.tty = t
	} else if strings.HasPrefix(open.TTY, "/dev/") || login.tty == "" {
		login.tty = open.TTY
	}

	if open.Resume != nil {
		return d.admitResume(cred, user, cfg, me, rec, audit, login, open, rc, cannot)
	}
	r := d.newRecording(rec, cred.Uid, user, me, audit, login, *open, cfg)
	outer, err := d.recs.claim(r, anc, true)
	if errors.Is(err, errOpen) {
		// The recording ID names this very recorder process: it is trying its first open
		// again, having given up waiting for the answer (OpenTimeout) while recd, busy,
		// answered late. It gets the recording it opened; refusing it would leave the
		// session unrecorded and the recording never closed.
		if cur := d.recs.get(rec); cur != nil && cur.uid == cred.Uid && cur.recorder == me {
			return cur, attachReq{rc: rc, kind: attachMemory, reply: make(chan bool, 1)}, proto.Response{}
		}
	}
	if err != nil {
		return cannot(err.Error())
	}
	if outer != nil {
		outer.addNested(user, cred.Pid)
		d.opts.Log.Printf("recorder pid %d of %s runs inside recording %s of %s: nested, not recorded again",
			cred.Pid, logValue(user), outer.rec, logValue(outer.user))
		return nil, none, proto.Response{OK: true, Record: &proto.RecordGrant{Nested: true, Outer: outer.rec, Settings: settingsOf(&cfg)}}
	}
	if login.key != nil {
		d.sessions.setRec(*login.key, rec)
	}
	d.opts.Log.Printf("recording %s: user=%s uid=%d recorder_pid=%d mode=%s service=%s tty=%s rhost=%s audit_session=%s",
		rec, logValue(user), cred.Uid, cred.Pid, open.Mode, logValue(login.service), logValue(login.tty), logValue(login.rhost), auditString(audit))
	d.startRecording(r)
	return r, attachReq{rc: rc, kind: attachNew, reply: make(chan bool, 1)}, proto.Response{}
}

// admitResume continues a recording after its recorder reconnected: the same recording if
// this recd still has it, else the state read back from the journal.
func (d *Daemon) admitResume(cred *syscall.Ucred, user string, cfg config.Recorder, me procRef, rec string, audit uint32,
	login loginInfo, open *proto.RecordOpen, rc *recConn, cannot func(string) (*recording, attachReq, proto.Response)) (*recording, attachReq, proto.Response) {
	var none attachReq
	res := open.Resume
	refuse := func(why string) (*recording, attachReq, proto.Response) {
		if d.guard.firstAbuse(cred, abuseForeignRecording) { // the rest is summed up (abuse.go)
			d.refusedEvent(user, cred.Uid, cred.Pid, why)
		}
		return nil, none, proto.Response{Error: errOwnRecording}
	}
	// The recording ID names the recorder process (boot, PID, start time): only that
	// process can resume it.
	if res.Rec != rec {
		return refuse(fmt.Sprintf("resume of recording %q by pid %d, whose recording would be %s", res.Rec, cred.Pid, rec))
	}
	a := attachReq{rc: rc, lost: res.Lost, firstUnacked: res.FirstUnacked, reply: make(chan bool, 1)}
	if r := d.recs.get(rec); r != nil {
		if r.uid != cred.Uid {
			return refuse(fmt.Sprintf("resume of recording %s of uid %d by uid %d", rec, r.uid, cred.Uid))
		}
		a.kind = attachMemory
		return r, a, proto.Response{}
	}
	// One journal read per recording. A recorder waits OpenTimeout (2 s) for its answer
	// and then tries again on a new connection, and after a crash of recd, when every
	// recorder comes back at once, a read can wait and take much longer than that: a
	// retry must not queue another read of the same recording (each would hold a turn
	// for a client long gone, and the storm would feed itself). It is told at once to try
	// again; the read goes on, and a later try finds the recording in memory.
	if !d.recs.startRead(rec) {
		return nil, none, proto.Response{Error: "recd is reading this recording back from the journal; try again"}
	}
	defer d.recs.endRead(rec)
	ctx, cancel := context.WithTimeout(context.Background(), resumeReadTimeout)
	defer cancel()
	// Journal reads run journalctl: a few at a time, however many recorders come back, and
	// one at a time per user other than root, so that no user holds every turn.
	endTurn, err := d.guard.resumeTurn(ctx, cred.Uid)
	if err != nil {
		return nil, none, proto.Response{Error: "recd is busy reading recordings back from the journal; try again"}
	}
	defer endTurn()
	select {
	case d.resumeSem <- struct{}{}:
	case <-ctx.Done():
		return nil, none, proto.Response{Error: "recd is busy reading recordings back from the journal; try again"}
	}
	st, err := d.loadRecording(ctx, rec)
	<-d.resumeSem
	if err != nil {
		d.opts.Log.Printf("recording %s: cannot resume: %v", rec, err)
		return nil, none, proto.Response{Error: "recd cannot read the recording back from the journal yet: " + err.Error()}
	}
	if st.closed {
		// recd closed it (the recorder did not come back within the grace period, e.g.
		// stopped with SIGSTOP): a closed recording takes no more entries. A refusal in
		// the grant, not an error: an error answer is retried, and a recorder would read
		// the recording back from the journal every few seconds for the rest of its life.
		d.opts.Log.Printf("recording %s: resume by recorder pid %d refused: the recording is closed", rec, cred.Pid)
		return nil, none, proto.Response{OK: true, Record: &proto.RecordGrant{
			Refused: "recording " + rec + " was closed while the recorder was away; it cannot be resumed"}}
	}
	if st.found && (st.hasUID && st.uid != cred.Uid || st.user != "" && st.user != user) {
		return refuse(fmt.Sprintf("resume of recording %s of %s by uid %d", rec, st.user, cred.Uid))
	}
	r := d.newRecording(rec, cred.Uid, user, me, audit, login, *open, cfg)
	a.kind = attachNew
	if st.found {
		r.restore(st)
		a.kind = attachJournal
	}
	if _, err := d.recs.claim(r, nil, false); err != nil {
		if errors.Is(err, errOpen) {
			// Another connection of the same recorder resumed it meanwhile.
			if cur := d.recs.get(rec); cur != nil && cur.uid == cred.Uid {
				a.kind = attachMemory
				return cur, a, proto.Response{}
			}
		}
		return cannot(err.Error())
	}
	if login.key != nil {
		d.sessions.setRec(*login.key, rec)
	}
	if st.found {
		d.opts.Log.Printf("recording %s: resumed from the journal (entry %d, message %d) by recorder pid %d", rec, st.maxEntry, st.lastID, cred.Pid)
	} else {
		d.opts.Log.Printf("recording %s: resumed by recorder pid %d, but the journal has none of it: starting it anew", rec, cred.Pid)
	}
	d.startRecording(r)
	return r, a, proto.Response{}
}

func (d *Daemon) startRecording(r *recording) {
	d.recWG.Add(1)
	go func() {
		defer d.recWG.Done()
		r.run()
	}()
}

// recordingClosed logs the end of a recording.
func (d *Daemon) recordingClosed(r *recording, status string) {
	r.mu.Lock()
	st := r.stats
	r.mu.Unlock()
	d.opts.Log.Printf("recording %s of %s closed: %s, %d messages, %d bytes of output, %d dropped, %d lost",
		r.rec, logValue(r.user), status, st.messages, st.bytesOut, st.dropped, st.lost)
}

// recordingsFor answers OpSessions: every recording for root, one's own for others.
func (d *Daemon) recordingsFor(uid uint32) []proto.ActiveRecording {
	out := []proto.ActiveRecording{}
	for _, r := range d.recs.all() {
		if uid == 0 || r.uid == uid {
			out = append(out, r.status())
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Started != out[j].Started {
			return out[i].Started < out[j].Started
		}
		return out[i].Rec < out[j].Rec
	})
	return out
}

// Recordings returns every recording in progress (for recd's management interfaces).
func (d *Daemon) Recordings() []proto.ActiveRecording { return d.recordingsFor(0) }
