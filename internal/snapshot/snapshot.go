// Package snapshot compiles the session-recording policy into the small file
// that the C modules libnss_recd.so.2 and pam_recd.so evaluate, and reads it back.
//
// The snapshot lives at /var/lib/recd/policy (Path). It is written by Go only,
// atomically (temporary file in the same directory, fsync, rename, fsync of the
// directory), and read by C on every lookup that finds it changed. It carries:
//
//   - the rules ([session_recording] scope, users, groups, exclude_users,
//     exclude_groups; SSSD semantics), the recorder path and optional tlog
//     configuration text for pam_recd;
//   - a compiled cache: the real passwd entries of the users recorded at
//     compile time, the names and UIDs of the users known not to be recorded,
//     and the stamps (st_dev, st_ino, st_mtim, st_size) of /etc/passwd and
//     /etc/group at compile time. The C module answers from the cache only while
//     both stamps still match; otherwise it evaluates the rules live.
//
// # Format, version 1
//
// A text file, one record per line, each line ending in "\n", at most MaxSize
// bytes. The first line is exactly "recd-policy 1"; the last is exactly "end".
// In between, in any order (single-valued keys at most once):
//
//	scope none|some|all                      required
//	recorder /absolute/path                  required
//	user NAME                                repeatable (scope=some)
//	group NAME                               repeatable (scope=some)
//	exclude-user NAME                        repeatable (scope=all)
//	exclude-group NAME                       repeatable (scope=all)
//	tlog-conf LEN                            followed by LEN raw bytes and "\n"
//	stamp passwd DEV INO SEC NSEC SIZE       decimal; optional
//	stamp group DEV INO SEC NSEC SIZE        decimal; optional
//	rec NAME:PASSWD:UID:GID:GECOS:DIR:SHELL  a recorded user, real shell
//	norec NAME:UID                           a user known not to be recorded
//
// NAME is the rest of the line: any bytes but "\n" and NUL, not empty. Entry
// fields hold no ":", "\n" or NUL. Numbers are unsigned decimal without sign or
// leading zeros. The cache (rec/norec lines) is used only when both stamps are
// present. When several entries share a name or a UID, the first one wins, as
// with the files source. Anything else makes the whole file invalid, and an
// invalid snapshot means "record nobody".
package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Path is where recd keeps the compiled policy; the C modules read this name.
const Path = "/var/lib/recd/policy"

// Magic is the first line of a version-1 snapshot (without its newline).
const Magic = "recd-policy 1"

// MaxSize bounds a snapshot; the C reader refuses larger files.
const MaxSize = 4 << 20

// MaxTlogConf bounds the tlog configuration text.
const MaxTlogConf = 64 << 10

// Scopes, as in sssd-session-recording(5).
const (
	ScopeNone = "none"
	ScopeSome = "some"
	ScopeAll  = "all"
)

// Rules is the policy in force: SSSD's [session_recording] keys plus the
// recorder. Users and Groups apply only with scope "some", ExcludeUsers and
// ExcludeGroups only with scope "all". Names compare case-sensitively.
type Rules struct {
	Scope                       string
	Users, Groups               []string
	ExcludeUsers, ExcludeGroups []string
	// Recorder is the absolute path put in as a recorded user's shell,
	// e.g. /usr/bin/recd-session or /usr/bin/tlog-rec-session.
	Recorder string
	// TlogConfText, when not empty, is exported by pam_recd as
	// TLOG_REC_SESSION_CONF_TEXT (JSON for tlog-rec-session).
	TlogConfText string
}

// Entry is one cached user. A recorded entry (Record true) carries the full
// real passwd entry; a not-recorded one only Name and UID.
type Entry struct {
	Name, Passwd string
	UID, GID     uint32
	Gecos, Dir   string
	Shell        string
	Record       bool
}

// Stamp identifies one version of a file, as the C module compares it.
type Stamp struct {
	Dev, Ino  uint64
	Sec, Nsec int64
	Size      int64
}

// Snapshot is the compiled policy.
type Snapshot struct {
	Rules Rules
	// Passwd and Group are the stamps of the files the cache was built from.
	// When either is nil the cache is absent and the C module always
	// evaluates live.
	Passwd, Group *Stamp
	Entries       []Entry
}

// Recorded returns the entries that are recorded.
func (s *Snapshot) Recorded() []Entry {
	var out []Entry
	for _, e := range s.Entries {
		if e.Record {
			out = append(out, e)
		}
	}
	return out
}

func validName(kind, n string) error {
	if n == "" {
		return fmt.Errorf("snapshot: empty %s name", kind)
	}
	if strings.ContainsAny(n, "\n\x00") {
		return fmt.Errorf("snapshot: %s name %q contains a newline or NUL", kind, n)
	}
	return nil
}

func validField(f string) bool { return !strings.ContainsAny(f, ":\n\x00") }

// Validate checks that r can be encoded and that the C module will accept it.
func (r *Rules) Validate() error {
	switch r.Scope {
	case ScopeNone, ScopeSome, ScopeAll:
	default:
		return fmt.Errorf("snapshot: scope %q is not none, some or all", r.Scope)
	}
	if !strings.HasPrefix(r.Recorder, "/") || strings.ContainsAny(r.Recorder, "\n\x00") {
		return fmt.Errorf("snapshot: recorder %q is not an absolute path", r.Recorder)
	}
	for _, l := range []struct {
		kind  string
		names []string
	}{{"user", r.Users}, {"group", r.Groups}, {"exclude-user", r.ExcludeUsers}, {"exclude-group", r.ExcludeGroups}} {
		for _, n := range l.names {
			if err := validName(l.kind, n); err != nil {
				return err
			}
		}
	}
	if len(r.TlogConfText) > MaxTlogConf {
		return fmt.Errorf("snapshot: tlog configuration text is %d bytes, more than %d", len(r.TlogConfText), MaxTlogConf)
	}
	if strings.ContainsRune(r.TlogConfText, 0) {
		return errors.New("snapshot: tlog configuration text contains NUL")
	}
	return nil
}

// Validate checks e for encoding.
func (e *Entry) Validate() error {
	fields := []string{e.Name}
	if e.Record {
		fields = append(fields, e.Passwd, e.Gecos, e.Dir, e.Shell)
	}
	if e.Name == "" {
		return errors.New("snapshot: entry with empty name")
	}
	for _, f := range fields {
		if !validField(f) {
			return fmt.Errorf("snapshot: entry %q: field %q contains ':', newline or NUL", e.Name, f)
		}
	}
	return nil
}

// Encode returns the bytes of s in format version 1.
func Encode(s *Snapshot) ([]byte, error) {
	if err := s.Rules.Validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(Magic + "\n")
	fmt.Fprintf(&b, "scope %s\nrecorder %s\n", s.Rules.Scope, s.Rules.Recorder)
	for _, n := range s.Rules.Users {
		fmt.Fprintf(&b, "user %s\n", n)
	}
	for _, n := range s.Rules.Groups {
		fmt.Fprintf(&b, "group %s\n", n)
	}
	for _, n := range s.Rules.ExcludeUsers {
		fmt.Fprintf(&b, "exclude-user %s\n", n)
	}
	for _, n := range s.Rules.ExcludeGroups {
		fmt.Fprintf(&b, "exclude-group %s\n", n)
	}
	if s.Rules.TlogConfText != "" {
		fmt.Fprintf(&b, "tlog-conf %d\n%s\n", len(s.Rules.TlogConfText), s.Rules.TlogConfText)
	}
	if s.Passwd != nil {
		writeStamp(&b, "passwd", s.Passwd)
	}
	if s.Group != nil {
		writeStamp(&b, "group", s.Group)
	}
	for i := range s.Entries {
		e := &s.Entries[i]
		if err := e.Validate(); err != nil {
			return nil, err
		}
		if e.Record {
			fmt.Fprintf(&b, "rec %s:%s:%d:%d:%s:%s:%s\n", e.Name, e.Passwd, e.UID, e.GID, e.Gecos, e.Dir, e.Shell)
		} else {
			fmt.Fprintf(&b, "norec %s:%d\n", e.Name, e.UID)
		}
	}
	b.WriteString("end\n")
	if b.Len() > MaxSize {
		return nil, fmt.Errorf("snapshot: %d bytes, more than the limit of %d", b.Len(), MaxSize)
	}
	return b.Bytes(), nil
}

func writeStamp(b *bytes.Buffer, which string, st *Stamp) {
	fmt.Fprintf(b, "stamp %s %d %d %d %d %d\n", which, st.Dev, st.Ino, st.Sec, st.Nsec, st.Size)
}

// parseNum parses an unsigned decimal exactly as the C reader does: digits
// only, no leading zero unless the number is 0, at most max.
func parseNum(s string, max uint64) (uint64, error) {
	if s == "" || len(s) > 20 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("bad number %q", s)
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad number %q", s)
		}
		d := uint64(c - '0')
		if v > (max-d)/10 {
			return 0, fmt.Errorf("number %q out of range", s)
		}
		v = v*10 + d
	}
	return v, nil
}

const maxInt64 = 1<<63 - 1

// Decode parses a snapshot, accepting exactly what the C reader accepts.
func Decode(data []byte) (*Snapshot, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("snapshot: %d bytes, more than the limit of %d", len(data), MaxSize)
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, errors.New("snapshot: contains NUL")
	}
	s := &Snapshot{}
	rest := string(data)
	line := func() (string, bool) {
		i := strings.IndexByte(rest, '\n')
		if i < 0 {
			return "", false
		}
		l := rest[:i]
		rest = rest[i+1:]
		return l, true
	}
	first, ok := line()
	if !ok || first != Magic {
		return nil, errors.New("snapshot: not a recd policy snapshot of version 1")
	}
	var haveScope, haveRecorder, haveTlog, ended bool
	lineNo := 1
	for {
		l, ok := line()
		if !ok {
			break
		}
		lineNo++
		bad := func(format string, a ...any) error {
			return fmt.Errorf("snapshot: line %d: %s", lineNo, fmt.Sprintf(format, a...))
		}
		if l == "end" {
			ended = true
			break
		}
		key, val, _ := strings.Cut(l, " ")
		switch key {
		case "scope":
			if haveScope {
				return nil, bad("duplicate scope")
			}
			haveScope = true
			s.Rules.Scope = val
			if val != ScopeNone && val != ScopeSome && val != ScopeAll {
				return nil, bad("bad scope %q", val)
			}
		case "recorder":
			if haveRecorder {
				return nil, bad("duplicate recorder")
			}
			haveRecorder = true
			if !strings.HasPrefix(val, "/") {
				return nil, bad("recorder is not absolute")
			}
			s.Rules.Recorder = val
		case "user", "group", "exclude-user", "exclude-group":
			if val == "" {
				return nil, bad("empty name")
			}
			switch key {
			case "user":
				s.Rules.Users = append(s.Rules.Users, val)
			case "group":
				s.Rules.Groups = append(s.Rules.Groups, val)
			case "exclude-user":
				s.Rules.ExcludeUsers = append(s.Rules.ExcludeUsers, val)
			case "exclude-group":
				s.Rules.ExcludeGroups = append(s.Rules.ExcludeGroups, val)
			}
		case "tlog-conf":
			if haveTlog {
				return nil, bad("duplicate tlog-conf")
			}
			haveTlog = true
			n, err := parseNum(val, MaxTlogConf)
			if err != nil || n == 0 {
				return nil, bad("bad tlog-conf length %q", val)
			}
			if uint64(len(rest)) < n+1 || rest[n] != '\n' {
				return nil, bad("truncated tlog-conf")
			}
			s.Rules.TlogConfText = rest[:n]
			rest = rest[n+1:]
			lineNo += strings.Count(s.Rules.TlogConfText, "\n") + 1
		case "stamp":
			f := strings.Split(val, " ")
			if len(f) != 6 {
				return nil, bad("bad stamp")
			}
			var st Stamp
			var nums [5]uint64
			for i, max := range []uint64{1<<64 - 1, 1<<64 - 1, maxInt64, 999999999, maxInt64} {
				v, err := parseNum(f[i+1], max)
				if err != nil {
					return nil, bad("stamp: %v", err)
				}
				nums[i] = v
			}
			st.Dev, st.Ino, st.Sec, st.Nsec, st.Size = nums[0], nums[1], int64(nums[2]), int64(nums[3]), int64(nums[4])
			switch {
			case f[0] == "passwd" && s.Passwd == nil:
				s.Passwd = &st
			case f[0] == "group" && s.Group == nil:
				s.Group = &st
			default:
				return nil, bad("bad or duplicate stamp %q", f[0])
			}
		case "rec":
			f := strings.Split(val, ":")
			if len(f) != 7 || f[0] == "" {
				return nil, bad("bad rec entry")
			}
			uid, err1 := parseNum(f[2], 1<<32-1)
			gid, err2 := parseNum(f[3], 1<<32-1)
			if err1 != nil || err2 != nil {
				return nil, bad("bad rec uid/gid")
			}
			s.Entries = append(s.Entries, Entry{Name: f[0], Passwd: f[1], UID: uint32(uid), GID: uint32(gid),
				Gecos: f[4], Dir: f[5], Shell: f[6], Record: true})
		case "norec":
			f := strings.Split(val, ":")
			if len(f) != 2 || f[0] == "" {
				return nil, bad("bad norec entry")
			}
			uid, err := parseNum(f[1], 1<<32-1)
			if err != nil {
				return nil, bad("bad norec uid")
			}
			s.Entries = append(s.Entries, Entry{Name: f[0], UID: uint32(uid)})
		default:
			return nil, bad("unknown key %q", key)
		}
	}
	if !ended || rest != "" {
		return nil, errors.New("snapshot: missing or misplaced end line")
	}
	if !haveScope || !haveRecorder {
		return nil, errors.New("snapshot: scope or recorder missing")
	}
	return s, nil
}
