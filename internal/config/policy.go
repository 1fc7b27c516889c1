package config

import (
	"fmt"
	"strings"
)

// Scope says whom recd records, as SSSD's session_recording scope.
type Scope int

// The scopes.
const (
	ScopeNone Scope = iota // nobody
	ScopeSome              // users and members of groups
	ScopeAll               // everybody but exclude_users and members of exclude_groups
)

// String returns "none", "some" or "all".
func (s Scope) String() string {
	switch s {
	case ScopeNone:
		return "none"
	case ScopeSome:
		return "some"
	case ScopeAll:
		return "all"
	}
	return fmt.Sprintf("Scope(%d)", int(s))
}

// ParseScope reads a scope value, case-insensitively.
func ParseScope(v string) (Scope, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "none":
		return ScopeNone, nil
	case "some":
		return ScopeSome, nil
	case "all":
		return ScopeAll, nil
	}
	return 0, fmt.Errorf("invalid scope %q (valid: none, some, all)", v)
}

// Keys of [session_recording].
const (
	KeyScope         = "scope"
	KeyUsers         = "users"
	KeyGroups        = "groups"
	KeyExcludeUsers  = "exclude_users"
	KeyExcludeGroups = "exclude_groups"
)

// PolicyKeys lists the keys of [session_recording] in canonical order.
var PolicyKeys = []string{KeyScope, KeyUsers, KeyGroups, KeyExcludeUsers, KeyExcludeGroups}

// Policy is the [session_recording] section: who is recorded.
type Policy struct {
	Scope Scope
	// Users and Groups are used only with scope=some.
	Users, Groups []string
	// ExcludeUsers and ExcludeGroups are used only with scope=all.
	ExcludeUsers, ExcludeGroups []string
	// Sources maps each key set by a file to where it was set; a key that
	// is absent has its default.
	Sources map[string]Source
}

// List returns the names of one of the four list keys (nil for another key).
func (p *Policy) List(key string) []string {
	switch key {
	case KeyUsers:
		return p.Users
	case KeyGroups:
		return p.Groups
	case KeyExcludeUsers:
		return p.ExcludeUsers
	case KeyExcludeGroups:
		return p.ExcludeGroups
	}
	return nil
}

// Source returns where key was set (the zero Source for a default).
func (p *Policy) Source(key string) Source { return p.Sources[key] }

// Used reports whether key matters under the policy's scope: users and
// groups only with scope=some, the exclusions only with scope=all, and
// none of the lists with scope=none.
func (p *Policy) Used(key string) bool {
	switch key {
	case KeyScope:
		return true
	case KeyUsers, KeyGroups:
		return p.Scope == ScopeSome
	case KeyExcludeUsers, KeyExcludeGroups:
		return p.Scope == ScopeAll
	}
	return false
}

// Ignored lists the list keys that a file set to a non-empty value but
// that the scope makes irrelevant, with the reason, in canonical order.
func (p *Policy) Ignored() []IgnoredKey {
	var out []IgnoredKey
	for _, k := range PolicyKeys[1:] {
		if p.Used(k) || len(p.List(k)) == 0 {
			continue
		}
		why := "only used with scope=some"
		if k == KeyExcludeUsers || k == KeyExcludeGroups {
			why = "only used with scope=all"
		}
		out = append(out, IgnoredKey{Key: k, Reason: why, Source: p.Sources[k]})
	}
	return out
}

// IgnoredKey is a key whose value has no effect under the current scope.
type IgnoredKey struct {
	Key    string
	Reason string // e.g. "only used with scope=all"
	Source Source
}

func listKey(set func(*Policy, []string)) keyDef {
	return keyDef{parse: func(raw string) (func(*Config), string, string) {
		names, err := ParseList(raw)
		if err != nil {
			return nil, err.Error(), "names are separated by single commas; write an empty value for an empty list"
		}
		return func(c *Config) { set(&c.Policy, names) }, "", ""
	}}
}

var policyKeys = map[string]keyDef{
	KeyScope: {parse: func(raw string) (func(*Config), string, string) {
		s, err := ParseScope(raw)
		if err != nil {
			return nil, fmt.Sprintf("invalid value %q", raw), "valid values: none, some, all"
		}
		return func(c *Config) { c.Policy.Scope = s }, "", ""
	}},
	KeyUsers:         listKey(func(p *Policy, n []string) { p.Users = n }),
	KeyGroups:        listKey(func(p *Policy, n []string) { p.Groups = n }),
	KeyExcludeUsers:  listKey(func(p *Policy, n []string) { p.ExcludeUsers = n }),
	KeyExcludeGroups: listKey(func(p *Policy, n []string) { p.ExcludeGroups = n }),
}
