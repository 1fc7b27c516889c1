// Package recording groups journal entries into terminal-session recordings and gives what
// recctl's list, play, export and verify need: one summary per recording, a recording's
// entries and packets, a playback model that can seek, exports, and verification of recd's
// hash chain. It reads recordings made by recd (docs/recording-format.md: RECD_* fields
// around tlog messages) and by real tlog (TLOG_* fields only; shared/tlog-format.md §2).
package recording

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/recd-dev/recd/internal/journal"
	"github.com/recd-dev/recd/internal/tlog"
)

// Journal fields read here (docs/recording-format.md).
const (
	FieldRec       = "RECD_REC"
	FieldEntry     = "RECD_ENTRY"
	FieldEvent     = "RECD_EVENT"
	FieldChain     = "RECD_CHAIN"
	FieldUser      = "RECD_USER"
	FieldService   = "RECD_SERVICE"
	FieldTTY       = "RECD_TTY"
	FieldRHost     = "RECD_RHOST"
	FieldTerm      = "RECD_TERM"
	FieldStatus    = "RECD_STATUS"
	FieldReason    = "RECD_REASON"
	FieldMessages  = "RECD_MESSAGES"
	FieldBytesOut  = "RECD_BYTES_OUT"
	FieldDuration  = "RECD_DURATION_US"
	FieldNote      = "RECD_NOTE"
	FieldTlogRec   = "TLOG_REC"
	FieldTlogUser  = "TLOG_USER"
	FieldTlogID    = "TLOG_ID"
	FieldMessage   = "MESSAGE"
	FieldComm      = "_COMM"
	FieldUID       = "_UID"
	FieldHostname  = "_HOSTNAME"
	EventOpen      = "open"
	EventMessage   = "message"
	EventNote      = "note"
	EventClose     = "close"
	RecorderComm   = "tlog-rec-sessio" // _COMM of recd's journal writer and of tlog-rec-session
	TlogRecComm    = "tlog-rec"        // _COMM of tlog-rec
	TrustedUID     = "0"               // _UID of recd's journal writer
	MessageIDOpen  = "a5396ace7014482f89b10ad18209aba6"
	MessageIDClose = "f2488270cfa24aa49a7e96c3b2d049bd"
)

// RecorderMatches select the entries of every recorder, recd's and tlog's alike (journald
// ORs the two values of one field).
var RecorderMatches = []string{FieldComm + "=" + RecorderComm, FieldComm + "=" + TlogRecComm}

// Kind says which recorder made a recording.
type Kind int

// Kinds of recordings.
const (
	KindRecd Kind = iota + 1 // made by recd: hash chain, open and close entries
	KindTlog                 // made by tlog-rec or tlog-rec-session: TLOG_* fields only
)

func (k Kind) String() string {
	switch k {
	case KindRecd:
		return "recd"
	case KindTlog:
		return "tlog"
	}
	return "unknown"
}

// Status of a recording as list shows it.
type Status string

// Statuses. The first three come from recd's close entry.
const (
	StatusComplete   Status = "complete"   // closed normally
	StatusAborted    Status = "aborted"    // the recorder vanished and did not come back
	StatusTruncated  Status = "truncated"  // bytes were dropped or lost
	StatusLive       Status = "live"       // recd-made, no close entry (yet)
	StatusUnverified Status = "unverified" // made by tlog: no close entry, no chain
)

// Statuses lists the statuses in the order --help gives them.
var Statuses = []Status{StatusComplete, StatusAborted, StatusTruncated, StatusLive, StatusUnverified}

// ParseStatus checks a status name.
func ParseStatus(s string) (Status, error) {
	for _, st := range Statuses {
		if string(st) == s {
			return st, nil
		}
	}
	names := make([]string, len(Statuses))
	for i, st := range Statuses {
		names[i] = string(st)
	}
	return "", fmt.Errorf("unknown status %q (expected %s)", s, strings.Join(names, ", "))
}

// IDOf returns the recording an entry claims to belong to ("" for none).
func IDOf(e journal.Entry) string {
	if id := e.Get(FieldRec); id != "" {
		return id
	}
	return e.Get(FieldTlogRec)
}

// hasRecdFields reports whether e carries any RECD_ field.
func hasRecdFields(e journal.Entry) bool {
	for k := range e {
		if strings.HasPrefix(k, "RECD_") {
			return true
		}
	}
	return false
}

// GenuineRecd reports whether e was written by recd's journal writer for recording id:
// RECD_REC=id with the trusted fields journald sets for recd's writer (_UID=0,
// _COMM=tlog-rec-sessio). A user can put any RECD_ or TLOG_ field in an entry of their
// own, but not those trusted fields. journald reads _COMM and _EXE from /proc when it
// processes an entry: an entry it processed after the writer died (recd killed while
// journald was behind) has _UID=0 and neither of them, and is genuine too; an entry
// naming another program is not.
func GenuineRecd(e journal.Entry, id string) bool {
	if e.Get(FieldRec) != id || len(e[FieldRec]) != 1 || e.Get(FieldUID) != TrustedUID {
		return false
	}
	return e.Get(FieldComm) == RecorderComm || !e.Has(FieldComm) && !e.Has("_EXE")
}

// GenuineTlog reports whether e looks like a message of tlog's journal writer for
// recording id: TLOG_REC=id from a program named tlog-rec or tlog-rec-session, and no
// RECD_ field. This is what Cockpit checks; it cannot tell a forgery (shared/tlog-format.md §7).
func GenuineTlog(e journal.Entry, id string) bool {
	c := e.Get(FieldComm)
	return e.Get(FieldTlogRec) == id && (c == RecorderComm || c == TlogRecComm) && !hasRecdFields(e) && e.Has(FieldMessage)
}

// Summary is one recording as list shows it.
type Summary struct {
	ID         string        `json:"id"`
	Kind       Kind          `json:"-"`
	Recorder   string        `json:"recorder"` // Kind as text
	User       string        `json:"user"`
	Host       string        `json:"host"`
	Service    string        `json:"service,omitempty"`
	TTY        string        `json:"tty,omitempty"`
	RemoteHost string        `json:"remote_host,omitempty"`
	Term       string        `json:"term,omitempty"`
	Start      time.Time     `json:"start"`
	End        time.Time     `json:"end"`
	Duration   time.Duration `json:"duration_ns"`
	BytesOut   int64         `json:"bytes_out"`
	Messages   int           `json:"messages"`
	Status     Status        `json:"status"`
	Reason     string        `json:"reason,omitempty"`
}

// builder accumulates the entries of one recording into a Summary.
type builder struct {
	s         Summary
	closed    bool
	closeOut  int64
	haveBytes bool
	lastPkt   int64 // ms, recording time of the last packet seen
	grep      *grepper
	opened    bool  // a genuine open entry was seen
	closeMsgs int64 // RECD_MESSAGES of the close entry, -1 when none
	noMsgs    bool  // the message entries are not read (listIndexed): count from the close entry
}

func newBuilder(id string) *builder { return &builder{s: Summary{ID: id}, closeMsgs: -1} }

// kindOf decides a recording's kind from one of its entries; recd wins once seen.
func (b *builder) add(e journal.Entry) {
	id := b.s.ID
	switch {
	case GenuineRecd(e, id):
		if b.s.Kind != KindRecd {
			// Any tlog-looking entries counted before were not recd's: start over.
			*b = builder{s: Summary{ID: id, Kind: KindRecd}, grep: b.grep.reset(), closeMsgs: -1}
		}
	case GenuineTlog(e, id) && b.s.Kind != KindRecd:
		b.s.Kind = KindTlog
	default:
		return // not part of this recording (forged or foreign)
	}
	t := e.Realtime()
	if b.s.Start.IsZero() || t.Before(b.s.Start) {
		b.s.Start = t
	}
	if t.After(b.s.End) {
		b.s.End = t
	}
	if b.s.Host == "" {
		b.s.Host = e.Get(FieldHostname)
	}
	if u := e.Get(FieldTlogUser); u != "" && b.s.User == "" {
		b.s.User = u
	}
	switch e.Get(FieldEvent) {
	case EventOpen:
		b.opened = true
		b.s.Start = t
		if u := e.Get(FieldUser); u != "" {
			b.s.User = u
		}
		b.s.Service, b.s.TTY, b.s.RemoteHost, b.s.Term = e.Get(FieldService), e.Get(FieldTTY), e.Get(FieldRHost), e.Get(FieldTerm)
	case EventClose:
		b.closed = true
		b.s.Status = Status(e.Get(FieldStatus))
		b.s.Reason = e.Get(FieldReason)
		if n, ok := e.Int(FieldBytesOut); ok {
			b.closeOut, b.haveBytes = n, true
		}
		if us, ok := e.Int(FieldDuration); ok && us >= 0 {
			b.s.Duration = time.Duration(us) * time.Microsecond
		}
		if n, ok := e.Int(FieldMessages); ok && n >= 0 {
			b.closeMsgs = n
		}
	}
	if !e.Has(FieldMessage) || (b.s.Kind == KindRecd && e.Get(FieldEvent) != EventMessage) {
		return
	}
	b.s.Messages++
	m, err := tlog.ParseMessage(e.Bytes(FieldMessage))
	if err != nil {
		return // list shows what it can; verify and play say what is wrong
	}
	if b.s.Term == "" {
		b.s.Term = m.Term
	}
	if b.s.User == "" {
		b.s.User = m.User
	}
	pkts, err := m.Packets()
	if err != nil {
		return
	}
	for _, p := range pkts {
		if p.Kind == tlog.PacketOutput {
			b.s.BytesOut += int64(len(p.Data))
			if b.grep != nil {
				b.grep.write(p.Data)
			}
		}
		if p.Time > b.lastPkt {
			b.lastPkt = p.Time
		}
	}
}

// summary finishes the Summary.
func (b *builder) summary() Summary {
	s := b.s
	s.Recorder = s.Kind.String()
	switch {
	case s.Kind == KindTlog:
		s.Status = StatusUnverified
	case !b.closed:
		s.Status = StatusLive
	}
	if b.haveBytes {
		s.BytesOut = b.closeOut
	}
	if b.noMsgs && b.closed && b.closeMsgs >= 0 {
		s.Messages = int(b.closeMsgs)
	}
	if s.Duration == 0 {
		s.Duration = s.End.Sub(s.Start)
		if d := time.Duration(b.lastPkt) * time.Millisecond; d > s.Duration {
			s.Duration = d
		}
	}
	return s
}

// ListOptions filter List.
type ListOptions struct {
	User, Host   string // exact user name, exact _HOSTNAME
	Since, Until string // journalctl's syntax; recordings with entries in the range
	Grep         string // text in the recorded output, escape sequences stripped; all lower case = case-insensitive
	Status       Status // "" = any
}

// List returns one summary per recording in src that passes the filters, oldest first.
// It streams the journal: memory grows with the number of recordings, not their size.
func List(ctx context.Context, src journal.Source, o ListOptions) ([]Summary, error) {
	if o.Grep == "" {
		recs, ok, err := listIndexed(ctx, src, o)
		if err != nil {
			return nil, err
		}
		if ok {
			return finish(recs, o), nil
		}
	}
	recs := map[string]*builder{}
	q := journal.Query{Since: o.Since, Until: o.Until, Matches: append([]string(nil), RecorderMatches...)}
	if err := collect(ctx, src, q, o, recs); err != nil {
		return nil, err
	}
	return finish(recs, o), nil
}

// maxIndexed bounds the recordings listIndexed reads message entries of (tlog's and live
// ones), each a journalctl match term; with more, List reads every entry instead.
var maxIndexed = 1000

// listIndexed builds the summaries without reading the message entries of recd's
// recordings that have both their open and their close entry in the range, which are
// nearly all of a journal's recording data and which a summary does not need: the close
// entry has the status, bytes, duration and message count, the open entry the start,
// user, service, terminal and remote host, and every other entry of the recording lies
// between the two. Reading every message through journalctl -o json took 50 s for 1,000
// recordings in 630 MB (tests/cmd/listbench); this reads, through the journal's field
// index:
//
//  1. recd's open, note and close entries in the range (RECD_EVENT matches);
//  2. the values of TLOG_REC (journalctl --field), the IDs of all recordings with
//     messages, whatever their time;
//  3. the message entries in the range (TLOG_REC matches) of the others: tlog's
//     recordings, recd's live ones, and recd's that reach beyond the range, which are
//     summarized from the entries in the range as before.
//
// Only the message count differs in kind: RECD_MESSAGES of the close entry (what recd
// wrote) instead of the message entries found (the same unless entries were lost; recctl
// verify tells). ok is false when there are more than maxIndexed recordings to read
// messages of; the caller then reads every entry.
func listIndexed(ctx context.Context, src journal.Source, o ListOptions) (map[string]*builder, bool, error) {
	var host []string
	if o.Host != "" {
		host = []string{FieldHostname + "=" + o.Host}
	}
	recs := map[string]*builder{}
	q := journal.Query{Since: o.Since, Until: o.Until, Matches: append([]string{FieldComm + "=" + RecorderComm,
		FieldEvent + "=" + EventOpen, FieldEvent + "=" + EventNote, FieldEvent + "=" + EventClose}, host...)}
	if err := collect(ctx, src, q, o, recs); err != nil {
		return nil, false, err
	}
	ids, err := src.Unique(ctx, FieldTlogRec)
	if err != nil {
		return nil, false, err
	}
	var matches []string
	for _, id := range ids {
		if b := recs[id]; b != nil && b.s.Kind == KindRecd && b.opened && b.closed {
			b.noMsgs = true
			continue
		}
		matches = append(matches, FieldTlogRec+"="+id)
	}
	if len(matches) > maxIndexed {
		return nil, false, nil
	}
	if len(matches) > 0 {
		q = journal.Query{Since: o.Since, Until: o.Until,
			Matches: append(append(append([]string(nil), RecorderMatches...), matches...), host...)}
		if err := collect(ctx, src, q, o, recs); err != nil {
			return nil, false, err
		}
	}
	return recs, true, nil
}

// collect adds the entries q selects to the recordings' builders.
func collect(ctx context.Context, src journal.Source, q journal.Query, o ListOptions, recs map[string]*builder) error {
	return src.ForEach(ctx, q, func(e journal.Entry) error {
		id := IDOf(e)
		if id == "" {
			return nil
		}
		b := recs[id]
		if b == nil {
			b = newBuilder(id)
			if o.Grep != "" {
				b.grep = newGrepper(o.Grep)
			}
			recs[id] = b
		}
		b.add(e)
		return nil
	})
}

// finish filters and sorts the summaries.
func finish(recs map[string]*builder, o ListOptions) []Summary {
	var out []Summary
	for _, b := range recs {
		if b.s.Kind == 0 {
			continue // only forged or foreign entries
		}
		s := b.summary()
		if (o.User != "" && s.User != o.User) || (o.Status != "" && s.Status != o.Status) ||
			(b.grep != nil && !b.grep.found) {
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Recording is every journal entry that names one recording ID, in journal order.
type Recording struct {
	ID      string
	Kind    Kind
	Entries []journal.Entry
}

// Matches are the journalctl matches for the entries that name recording id.
func Matches(id string) []string {
	return []string{FieldTlogRec + "=" + id, "+", FieldRec + "=" + id}
}

// Load reads the entries of recording id from src. It returns an error when no entry
// names the id.
func Load(ctx context.Context, src journal.Source, id string) (*Recording, error) {
	r := &Recording{ID: id}
	err := src.ForEach(ctx, journal.Query{Matches: Matches(id)}, func(e journal.Entry) error {
		r.Add(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(r.Entries) == 0 {
		return nil, &NotFoundError{ID: id}
	}
	return r, nil
}

// NotFoundError means no journal entry names the recording.
type NotFoundError struct{ ID string }

func (e *NotFoundError) Error() string { return fmt.Sprintf("no recording %q in the journal", e.ID) }

// Add appends an entry (as Load does; play --follow adds entries as they come).
func (r *Recording) Add(e journal.Entry) {
	if IDOf(e) != r.ID && e.Get(FieldTlogRec) != r.ID {
		return
	}
	r.Entries = append(r.Entries, e)
	switch {
	case GenuineRecd(e, r.ID):
		r.Kind = KindRecd
	case r.Kind == 0 && GenuineTlog(e, r.ID):
		r.Kind = KindTlog
	}
}

// Genuine reports whether e is part of the recording as its recorder wrote it (see
// GenuineRecd and GenuineTlog).
func (r *Recording) Genuine(e journal.Entry) bool {
	if r.Kind == KindRecd {
		return GenuineRecd(e, r.ID)
	}
	return GenuineTlog(e, r.ID)
}

// Foreign returns the entries that name the recording but are not genuine: written by
// another program or user (forged), or of a kind the recording is not.
func (r *Recording) Foreign() []journal.Entry {
	var out []journal.Entry
	for _, e := range r.Entries {
		if !r.Genuine(e) {
			out = append(out, e)
		}
	}
	return out
}

// Messages returns the genuine entries that carry a tlog message, in journal order.
func (r *Recording) Messages() []journal.Entry {
	var out []journal.Entry
	for _, e := range r.Entries {
		if r.Genuine(e) && e.Has(FieldMessage) && (r.Kind != KindRecd || e.Get(FieldEvent) == EventMessage) {
			out = append(out, e)
		}
	}
	return out
}

// Summary summarizes the recording as List would.
func (r *Recording) Summary() Summary {
	b := newBuilder(r.ID)
	for _, e := range r.Entries {
		b.add(e)
	}
	return b.summary()
}

// Closed reports whether the recording has a genuine close entry.
func (r *Recording) Closed() bool {
	for _, e := range r.Entries {
		if r.Kind == KindRecd && GenuineRecd(e, r.ID) && e.Get(FieldEvent) == EventClose {
			return true
		}
	}
	return false
}

// Where names an entry for messages: its RECD_ENTRY or TLOG_ID, time and cursor.
func Where(e journal.Entry) string {
	var parts []string
	if n := e.Get(FieldEntry); n != "" {
		parts = append(parts, "entry "+n)
	}
	if id := e.Get(FieldTlogID); id != "" {
		parts = append(parts, "message "+id)
	}
	if len(parts) == 0 {
		parts = append(parts, "entry")
	}
	s := strings.Join(parts, ", ")
	if t := e.Realtime(); !t.IsZero() {
		s += " at " + t.Local().Format("2006-01-02 15:04:05.000")
	}
	if c := e.Cursor(); c != "" {
		s += " (cursor " + c + ")"
	}
	return s
}

// Decode turns the recording's genuine messages into packets, checking them as tlog-play
// does (strict ids unless lax, times never backwards). An error names the entry.
func (r *Recording) Decode(lax bool) ([]tlog.Packet, error) {
	d := &tlog.Decoder{Lax: lax}
	var out []tlog.Packet
	for _, e := range r.Messages() {
		pkts, err := DecodeEntry(d, e)
		if err != nil {
			return out, err
		}
		out = append(out, pkts...)
	}
	return out, nil
}

// DecodeEntry parses and checks the tlog message of entry e with d. An error names e.
func DecodeEntry(d *tlog.Decoder, e journal.Entry) ([]tlog.Packet, error) {
	m, err := tlog.ParseMessage(e.Bytes(FieldMessage))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Where(e), err)
	}
	if id := e.Get(FieldTlogID); id != "" && id != strconv.FormatUint(m.ID, 10) {
		return nil, fmt.Errorf("%s: TLOG_ID=%s but the message says id %d", Where(e), id, m.ID)
	}
	pkts, err := d.Decode(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Where(e), err)
	}
	return pkts, nil
}
