package daemon

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// abuseKind is one kind of misbehaviour of a client of recd.sock.
type abuseKind int

const (
	abuseMalformed abuseKind = iota
	abuseOversized
	abuseSilent
	abuseHalfFrame
	abuseOverLimit
	abuseForeignSession
	abuseForeignRecording
	abuseRecordingRefused
	numAbuseKinds
)

// abuseFirst names a kind in a client's first line, abusePlural in the summaries.
var (
	abuseFirst = [numAbuseKinds]string{
		"malformed frame", "oversized frame", "slow-loris connection", "slow-loris connection",
		"over the connection limits", "registration of another user's login refused",
		"claim of another user's recording refused", "recording refused",
	}
	abusePlural = [numAbuseKinds]string{
		"malformed frames", "oversized frames", "connections without a request",
		"connections stalled inside a frame", "connections over the per-user limits",
		"registrations of other users' logins refused", "claims of other users' recordings refused",
		"recordings refused",
	}
)

// abuseKey is one client: a process of a uid. pid -1 stands for the further processes of
// the uid once maxAbuseClientsPerUID of its processes have lines of their own.
type abuseKey struct {
	uid uint32
	pid int32
}

type abuseEntry struct {
	comm     string
	counts   [numAbuseKinds]uint64 // since the last line
	pending  bool
	lastLine time.Time
}

// abuseLog logs what hostile clients do once per client, then sums it up at most once
// per abuseInterval: the first misbehaviour of a client (uid and pid) is logged at once,
// with what was wrong; whatever the same client does afterwards is counted, and the counts
// are logged in one line an interval after the previous line (and then again each
// interval while the client goes on). A client quiet for an interval is forgotten.
type abuseLog struct {
	mu      sync.Mutex
	logf    func(string, ...any)
	now     func() time.Time
	commOf  func(pid int32) string
	clients map[abuseKey]*abuseEntry
	perUID  map[uint32]int // clients of a uid with lines of their own
	timer   *time.Timer
	noTimer bool // tests call flush themselves

	// Failed accepts (Daemon.acceptFailed).
	acceptFails int
	acceptLast  time.Time
}

func newAbuseLog(logf func(string, ...any)) *abuseLog {
	return &abuseLog{logf: logf, now: time.Now, commOf: procComm,
		clients: map[abuseKey]*abuseEntry{}, perUID: map[uint32]int{}}
}

// procComm is a process's command name, "" if it is gone.
func procComm(pid int32) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (k abuseKey) String() string {
	if k.pid < 0 {
		return fmt.Sprintf("uid %d (further processes)", k.uid)
	}
	return fmt.Sprintf("uid %d pid %d", k.uid, k.pid)
}

func (e *abuseEntry) who(k abuseKey) string {
	if e.comm != "" {
		return fmt.Sprintf("%s (%s)", k, logValue(e.comm))
	}
	return k.String()
}

// entryLocked returns the client's entry and whether it is new.
func (a *abuseLog) entryLocked(uid uint32, pid int32) (abuseKey, *abuseEntry, bool) {
	k := abuseKey{uid, pid}
	if e := a.clients[k]; e != nil {
		return k, e, false
	}
	if a.perUID[uid] >= maxAbuseClientsPerUID || len(a.clients) >= maxAbuseClients {
		k = abuseKey{uid, -1}
		if e := a.clients[k]; e != nil {
			return k, e, false
		}
		if len(a.clients) >= maxAbuseClients+maxAbuseClients/4 {
			return k, nil, false // beyond every bound: counted nowhere, logged never
		}
	} else {
		a.perUID[uid]++
	}
	e := &abuseEntry{lastLine: a.now()}
	if k.pid >= 0 && a.commOf != nil {
		e.comm = a.commOf(k.pid)
	}
	a.clients[k] = e
	if a.timer == nil && !a.noTimer {
		a.timer = time.AfterFunc(abuseInterval/4, a.flushTimer)
	}
	return k, e, true
}

// note counts one misbehaviour of the client uid/pid; the client's first is logged at
// once, with detail.
func (a *abuseLog) note(uid uint32, pid int32, kind abuseKind, detail string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k, e, isNew := a.entryLocked(uid, pid)
	switch {
	case e == nil:
	case isNew:
		a.logf("abuse: %s: %s: %s; more from this client is counted and summed up at most once a minute",
			e.who(k), abuseFirst[kind], detail)
	default:
		a.countLocked(k, e, kind)
	}
}

// first counts one misbehaviour and reports whether it is the client's first, which the
// caller logs in its own words (a refused claim, say); the rest is summed up as by note.
func (a *abuseLog) first(uid uint32, pid int32, kind abuseKind) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	k, e, isNew := a.entryLocked(uid, pid)
	switch {
	case e == nil:
		return false
	case isNew:
		return true
	}
	a.countLocked(k, e, kind)
	return false
}

func (a *abuseLog) countLocked(k abuseKey, e *abuseEntry, kind abuseKind) {
	e.counts[kind]++
	e.pending = true
	if a.now().Sub(e.lastLine) >= abuseInterval {
		a.summaryLocked(k, e)
	}
}

func (a *abuseLog) summaryLocked(k abuseKey, e *abuseEntry) {
	var parts []string
	for kind, n := range e.counts {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, abusePlural[kind]))
		}
	}
	now := a.now()
	a.logf("abuse: %s since %s: %s", e.who(k), e.lastLine.UTC().Format("15:04:05"), strings.Join(parts, ", "))
	e.counts = [numAbuseKinds]uint64{}
	e.pending = false
	e.lastLine = now
}

func (a *abuseLog) flushTimer() {
	a.mu.Lock()
	a.timer = nil
	a.flushLocked()
	if len(a.clients) > 0 {
		a.timer = time.AfterFunc(abuseInterval/4, a.flushTimer)
	}
	a.mu.Unlock()
}

// flush logs the summaries that are due and forgets clients quiet for an interval.
func (a *abuseLog) flush() {
	a.mu.Lock()
	a.flushLocked()
	a.mu.Unlock()
}

func (a *abuseLog) flushLocked() {
	now := a.now()
	keys := make([]abuseKey, 0, len(a.clients))
	for k := range a.clients {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].uid != keys[j].uid {
			return keys[i].uid < keys[j].uid
		}
		return keys[i].pid < keys[j].pid
	})
	for _, k := range keys {
		e := a.clients[k]
		if now.Sub(e.lastLine) < abuseInterval {
			continue
		}
		if e.pending {
			a.summaryLocked(k, e)
			continue
		}
		delete(a.clients, k)
		if k.pid >= 0 {
			if a.perUID[k.uid]--; a.perUID[k.uid] <= 0 {
				delete(a.perUID, k.uid)
			}
		}
	}
}

// firstAbuse is abuseLog.first for a client known by its credentials.
func (g *guard) firstAbuse(cred *syscall.Ucred, kind abuseKind) bool {
	return g.abuse.first(cred.Uid, cred.Pid, kind)
}
