package daemon

import (
	"errors"
	"fmt"
	"sync"

	"github.com/recd-dev/recd/internal/proto"
)

// Limits on recordings, so that no user can make recd hold unbounded state.
const (
	// maxRecordingsPerUID bounds the recordings one (non-root) user has open at once,
	// counting those whose recorder recd is waiting for after a dropped connection.
	maxRecordingsPerUID = 64
	// maxRecordings bounds all recordings.
	maxRecordings = 4096
)

// recTable holds the recordings in progress. It is also the lock table: what tlog does
// with /run/tlog/session.<audit id>.lock files and a SUID binary, recd does here, in
// memory, so there are no lock files to go stale — a recording's lock is its entry, and
// it goes when the recording closes (normally, or as aborted once its recorder is gone).
//
// One login session gets one recording: a new recorder is nested (not recorded again,
// its I/O already being part of the outer recording) when
//
//   - its audit session ID is set and equal to that of a recording in progress (su,
//     sudo -i and sudo -s keep the audit session of the login), or
//   - one of its ancestor processes is the recorder of a recording in progress (covers
//     hosts without audit session IDs, e.g. containers or no pam_loginuid).
//
// Two logins without audit session IDs are therefore two recordings, where tlog records
// only the first session of the whole host.
type recTable struct {
	mu    sync.Mutex
	byRec map[string]*recording
	// reading holds the recordings being read back from the journal for a resume.
	reading map[string]bool
}

// errOpen is returned by claim for a recording ID that is already in the table.
var errOpen = errors.New("recording is already open")

func newRecTable() *recTable {
	return &recTable{byRec: map[string]*recording{}, reading: map[string]bool{}}
}

// startRead marks rec as being read back from the journal; false if it already is.
func (t *recTable) startRead(rec string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reading[rec] {
		return false
	}
	t.reading[rec] = true
	return true
}

// endRead ends what startRead began.
func (t *recTable) endRead(rec string) {
	t.mu.Lock()
	delete(t.reading, rec)
	t.mu.Unlock()
}

// outerOf returns the recording a recorder with audit session audit and the given
// ancestors runs inside, nil if none. The caller holds t.mu.
func (t *recTable) outerOf(audit uint32, anc []procRef) *recording {
	for _, r := range t.byRec {
		if audit != proto.AuditSessionUnset && r.audit == audit {
			return r
		}
	}
	for _, a := range anc {
		for _, r := range t.byRec {
			if r.recorder == a {
				return r
			}
		}
	}
	return nil
}

// claim registers r unless its recorder is nested in another recording (returned) or a
// limit is reached (error). nestCheck is false for a resumed recording, which is the
// outer one by definition.
func (t *recTable) claim(r *recording, anc []procRef, nestCheck bool) (*recording, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := t.byRec[r.rec]; dup {
		return nil, fmt.Errorf("%s: %w", r.rec, errOpen)
	}
	if nestCheck {
		if outer := t.outerOf(r.audit, anc); outer != nil {
			return outer, nil
		}
	}
	if len(t.byRec) >= maxRecordings {
		return nil, fmt.Errorf("%d recordings are open, the most recd keeps", len(t.byRec))
	}
	if r.uid != 0 {
		n := 0
		for _, o := range t.byRec {
			if o.uid == r.uid {
				n++
			}
		}
		if n >= maxRecordingsPerUID {
			return nil, fmt.Errorf("user %s has %d recordings open, the most recd keeps for one user", r.user, n)
		}
	}
	t.byRec[r.rec] = r
	return nil, nil
}

// release removes r.
func (t *recTable) release(r *recording) {
	t.mu.Lock()
	if t.byRec[r.rec] == r {
		delete(t.byRec, r.rec)
	}
	t.mu.Unlock()
}

// get returns the recording rec, if it is in progress.
func (t *recTable) get(rec string) *recording {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byRec[rec]
}

// all returns the recordings in progress.
func (t *recTable) all() []*recording {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*recording, 0, len(t.byRec))
	for _, r := range t.byRec {
		out = append(out, r)
	}
	return out
}
