package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/recd-dev/recd/internal/journal"
	"github.com/recd-dev/recd/internal/tlog"
	"github.com/recd-dev/recd/recd/journalwriter"
)

// Resuming after a restart of recd.
//
// recd keeps no state on disk: the journal is the state. When a recorder reconnects to a
// recd that does not know its recording (recd was restarted or killed), recd reads the
// recording back with
//
//	journalctl --output=json --all --no-pager --merge -- RECD_REC=<rec> _UID=0 _BOOT_ID=<boot>
//
// (options systemd 219 has; the trusted _UID keeps out entries a user forged with logger
// or systemd-cat) and takes, over all lines: the highest RECD_ENTRY and its
// RECD_CHAIN (the chain and the entry numbers continue from there), and from the message
// with the highest TLOG_ID its RECD_NEXT (where the recorder resends from:
// RecordGrant.ResumeSeq/ResumeSkip), RECD_WINDOW, RECD_ORIGIN_US and RECD_LAST_US (the
// tlog Encoder continues the message ids, pos and window exactly: tlog.Encoder.Resume).
// Counters for the closing entry are summed from the messages and notes.
//
// Before reading, recd makes sure journald has processed everything the previous recd's
// writer sent: it sends a barrier entry (RECD_BARRIER=<random>) through its own writer
// and waits until journalctl shows it. Datagrams on journald's socket are processed in
// order, so every entry the old writer sent is then visible too; without the barrier an
// entry still queued in journald could be written twice.

// journalState is what the journal says about a recording.
type journalState struct {
	found, closed bool
	maxEntry      uint64
	chain         string
	hasUID        bool
	uid           uint32
	user          string
	service, tty  string
	rhost         string
	started       time.Time
	// The last message.
	hasMsg        bool
	lastID        uint64
	next          tlog.Position
	window        *tlog.Window
	origin, last  uint64
	term          string
	session       uint32
	bytesIn       uint64
	bytesOut      uint64
	dropped, lost uint64
	truncated     bool
}

// readJournalFunc calls fn for every genuine entry of recording rec, in journal order.
type readJournalFunc func(ctx context.Context, rec string, fn func(journal.Entry) error) error

// loadRecording reads the state of rec from the journal.
func (d *Daemon) loadRecording(ctx context.Context, rec string) (*journalState, error) {
	st := &journalState{}
	err := d.readJournal(ctx, rec, func(e journal.Entry) error {
		if e.Get("RECD_REC") != rec {
			return nil
		}
		n, ok := e.Int("RECD_ENTRY")
		if !ok || n <= 0 {
			return nil
		}
		st.found = true
		dup := uint64(n) <= st.maxEntry // a resend after a writer restart: count it once
		if uint64(n) > st.maxEntry {
			st.maxEntry = uint64(n)
			st.chain = e.Get("RECD_CHAIN")
		}
		switch e.Get("RECD_EVENT") {
		case "open":
			if uid, err := strconv.ParseUint(e.Get("RECD_UID"), 10, 32); err == nil {
				st.hasUID, st.uid = true, uint32(uid)
			}
			if u := e.Get("RECD_USER"); u != "" {
				st.user = u
			}
			st.service, st.tty, st.rhost = e.Get("RECD_SERVICE"), e.Get("RECD_TTY"), e.Get("RECD_RHOST")
			st.term = e.Get("RECD_TERM")
			if e.Has("__REALTIME_TIMESTAMP") {
				st.started = e.Realtime()
			}
		case "message":
			if dup {
				return nil
			}
			st.message(e)
		case "note":
			if !dup && e.Get("RECD_NOTE") == "lost" {
				if b, err := strconv.ParseUint(e.Get("RECD_BYTES"), 10, 64); err == nil {
					st.lost += b
				}
				st.truncated = true
			}
		case "close":
			st.closed = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (st *journalState) message(e journal.Entry) {
	id, err := strconv.ParseUint(e.Get("TLOG_ID"), 10, 64)
	if err != nil {
		return
	}
	if u := e.Get("TLOG_USER"); u != "" {
		st.user = u
	}
	if b, err := strconv.ParseUint(e.Get("RECD_DROPPED"), 10, 64); err == nil {
		st.dropped += b
		st.truncated = true
	}
	m, perr := tlog.ParseMessage(e.Bytes("MESSAGE"))
	if perr == nil {
		if pkts, err := m.Packets(); err == nil {
			for _, p := range pkts {
				switch p.Kind {
				case tlog.PacketOutput:
					st.bytesOut += uint64(len(p.Data))
				case tlog.PacketInput:
					st.bytesIn += uint64(len(p.Data))
				}
			}
		}
	}
	if id < st.lastID && st.hasMsg {
		return
	}
	next, ok := parseNext(e.Get("RECD_NEXT"))
	if !ok {
		return
	}
	st.hasMsg = true
	st.lastID = id
	st.next = next
	st.window = parseWindow(e.Get("RECD_WINDOW"))
	st.origin, _ = strconv.ParseUint(e.Get("RECD_ORIGIN_US"), 10, 64)
	st.last, _ = strconv.ParseUint(e.Get("RECD_LAST_US"), 10, 64)
	if perr == nil {
		st.term, st.session = m.Term, m.Session
	} else if s, err := strconv.ParseUint(e.Get("TLOG_SESSION"), 10, 32); err == nil {
		st.session = uint32(s)
	}
}

// parseNext reads RECD_NEXT, "<seq>:<skip>".
func parseNext(v string) (tlog.Position, bool) {
	s, k, ok := strings.Cut(v, ":")
	if !ok {
		return tlog.Position{}, false
	}
	seq, err1 := strconv.ParseUint(s, 10, 64)
	skip, err2 := strconv.ParseUint(k, 10, 32)
	if err1 != nil || err2 != nil || seq == 0 {
		return tlog.Position{}, false
	}
	return tlog.Position{Seq: seq, Skip: uint32(skip)}, true
}

// parseWindow reads RECD_WINDOW, "<cols>x<rows>", nil when absent or malformed.
func parseWindow(v string) *tlog.Window {
	c, r, ok := strings.Cut(v, "x")
	if !ok {
		return nil
	}
	cols, err1 := strconv.ParseUint(c, 10, 16)
	rows, err2 := strconv.ParseUint(r, 10, 16)
	if err1 != nil || err2 != nil {
		return nil
	}
	return &tlog.Window{Cols: uint16(cols), Rows: uint16(rows)}
}

// restore makes r continue the recording the journal holds.
func (r *recording) restore(st *journalState) {
	r.entryN, r.chain = st.maxEntry, st.chain
	r.stats = recStats{messages: st.lastID, bytesIn: st.bytesIn, bytesOut: st.bytesOut, dropped: st.dropped, lost: st.lost}
	r.truncated = st.truncated
	if !st.started.IsZero() {
		r.started = st.started
	}
	if r.login.service == "" && r.login.rhost == "" {
		r.login.service, r.login.rhost = st.service, st.rhost
		if r.login.tty == "" {
			r.login.tty = st.tty
		}
	}
	if st.user != "" {
		r.header.User = st.user
	}
	if st.term != "" || st.hasMsg {
		r.header.Term = st.term
	}
	if st.hasMsg {
		r.header.Session = st.session
	}
	r.enc = tlog.NewEncoder(r.header, tlog.EncoderOptions{Payload: r.cfg.Payload, StartUnixMicro: r.open.StartUnixMicro})
	if !st.hasMsg {
		return
	}
	r.resumeID, r.resumeOrigin, r.resumeLast, r.resumeWindow = st.lastID+1, st.origin, st.last, st.window
	r.hasResume = true
	r.enc.Resume(r.resumeID, r.resumeOrigin, r.resumeLast, r.resumeWindow, st.next)
	r.nextSeq, r.resumeSkip = st.next.Seq, st.next.Skip
	r.lastMicros = st.last
}

// systemReadJournal is readJournalFunc on the system journal, after a barrier.
func (d *Daemon) systemReadJournal(ctx context.Context, rec string, fn func(journal.Entry) error) error {
	if err := d.journalBarrier(ctx, rec); err != nil {
		d.opts.Log.Printf("recording %s: %v; reading the journal anyway", rec, err)
	}
	// _UID comes with the datagram (SCM_CREDENTIALS) and is always there; _COMM is read
	// from /proc when journald processes the entry and is missing when the writer died
	// before (a crash of recd kills it): so it is not matched on.
	matches := []string{"RECD_REC=" + rec, "_UID=0"}
	if d.bootID != "" {
		matches = append(matches, "_BOOT_ID="+d.bootID)
	}
	return journal.Source{}.ForEach(ctx, journal.Query{Matches: matches}, fn)
}

// journalBarrier sends an entry through the writer and waits until journalctl shows it.
func (d *Daemon) journalBarrier(ctx context.Context, rec string) error {
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	var e journalwriter.Entry
	e.Add("MESSAGE", "recd: reading recording "+rec+" back from the journal to resume it")
	e.Add("PRIORITY", "7")
	e.Add("SYSLOG_IDENTIFIER", "recd")
	e.Add("RECD_BARRIER", token)
	done := make(chan struct{})
	if err := d.writer.Write(e, func() { close(done) }); err != nil {
		return fmt.Errorf("journal barrier: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("journal barrier: journald did not take it: %w", ctx.Err())
	}
	for {
		seen := false
		_ = journal.Source{}.ForEach(ctx, journal.Query{Matches: []string{"RECD_BARRIER=" + token}}, func(journal.Entry) error {
			seen = true
			return nil
		})
		if seen {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("journal barrier: not visible in the journal: %w", ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
	}
}
