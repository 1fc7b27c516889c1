package journalwriter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Field is one field of a journal entry. Values are bytes: journald stores them as given
// (a value with a newline or non-UTF-8 bytes is sent in the protocol's binary form).
type Field struct {
	Name  string
	Value []byte
}

// Entry is a journal entry: its fields in the order they are sent. A name may appear
// more than once (journald keeps every value), though recd never does that.
type Entry []Field

// Add appends a field with a string value.
func (e *Entry) Add(name, value string) { *e = append(*e, Field{Name: name, Value: []byte(value)}) }

// AddBytes appends a field with a byte value.
func (e *Entry) AddBytes(name string, value []byte) {
	*e = append(*e, Field{Name: name, Value: value})
}

// Get returns the value of the first field called name.
func (e Entry) Get(name string) ([]byte, bool) {
	for _, f := range e {
		if f.Name == name {
			return f.Value, true
		}
	}
	return nil, false
}

// Map returns the entry as a map from name to value (the last value of a repeated name).
func (e Entry) Map() map[string][]byte {
	m := make(map[string][]byte, len(e))
	for _, f := range e {
		m[f.Name] = f.Value
	}
	return m
}

// maxFieldName is journald's limit on a field name (JOURNAL_FIELD_NAME_MAX is 64).
const maxFieldName = 64

// ValidFieldName reports why name cannot be sent by a client, or nil: journald accepts
// names of 1–64 characters from A–Z, 0–9 and "_" that do not start with "_" (trusted
// fields) or a digit.
func ValidFieldName(name string) error {
	if name == "" || len(name) > maxFieldName {
		return fmt.Errorf("journal field name %q: must have 1 to %d characters", name, maxFieldName)
	}
	if name[0] == '_' || (name[0] >= '0' && name[0] <= '9') {
		return fmt.Errorf("journal field name %q: must not start with %q", name, name[0])
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("journal field name %q: only A-Z, 0-9 and _ are allowed", name)
		}
	}
	return nil
}

// Encode serializes e in journald's native protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL):
// "NAME=value\n" for a value without a newline, else "NAME\n", the value's length as a
// little-endian uint64, the value and "\n". It refuses invalid field names, so that a
// caller's mistake cannot make journald drop or split an entry.
func Encode(e Entry) ([]byte, error) {
	if len(e) == 0 {
		return nil, errors.New("empty journal entry")
	}
	n := 0
	for _, f := range e {
		n += len(f.Name) + len(f.Value) + 10
	}
	b := make([]byte, 0, n)
	for _, f := range e {
		if err := ValidFieldName(f.Name); err != nil {
			return nil, err
		}
		b = append(b, f.Name...)
		if bytes.IndexByte(f.Value, '\n') < 0 {
			b = append(b, '=')
		} else {
			b = append(b, '\n')
			b = binary.LittleEndian.AppendUint64(b, uint64(len(f.Value)))
		}
		b = append(b, f.Value...)
		b = append(b, '\n')
	}
	return b, nil
}

// Decode parses journald's native protocol, the inverse of Encode. It is what journald
// does with a datagram; recd uses it in tests and to check entries it is handed.
func Decode(b []byte) (Entry, error) {
	var e Entry
	for len(b) > 0 {
		i := bytes.IndexAny(b, "=\n")
		if i < 0 {
			return e, fmt.Errorf("journal entry: field %q without a value", truncate(b))
		}
		name := string(b[:i])
		if err := ValidFieldName(name); err != nil {
			return e, err
		}
		if b[i] == '=' {
			j := bytes.IndexByte(b[i+1:], '\n')
			if j < 0 {
				return e, fmt.Errorf("journal entry: field %s not terminated by a newline", name)
			}
			e = append(e, Field{Name: name, Value: b[i+1 : i+1+j]})
			b = b[i+1+j+1:]
			continue
		}
		rest := b[i+1:]
		if len(rest) < 8 {
			return e, fmt.Errorf("journal entry: field %s: truncated length", name)
		}
		n := binary.LittleEndian.Uint64(rest)
		rest = rest[8:]
		if n > uint64(len(rest)) || n+1 > uint64(len(rest)) || rest[n] != '\n' {
			return e, fmt.Errorf("journal entry: field %s: %d bytes announced, value not followed by a newline", name, n)
		}
		e = append(e, Field{Name: name, Value: rest[:n]})
		b = rest[n+1:]
	}
	return e, nil
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}
