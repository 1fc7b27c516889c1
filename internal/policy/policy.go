// Package policy decides whether a user's sessions are recorded, with
// SSSD's session_recording semantics: scope=none records nobody; scope=some
// records the users listed in users and the members of the groups listed in
// groups; scope=all records everybody except the users listed in
// exclude_users and the members of the groups in exclude_groups.
//
// A user is a member of a group when the group is the user's primary group
// (matched by GID) or the group entry lists the user. A group name in the
// policy that does not exist matches nobody.
package policy

import (
	"errors"
	"fmt"
	"slices"

	"github.com/recd-dev/recd/internal/config"
)

// Decision is the answer for one user.
type Decision struct {
	User   string
	Record bool
	// Reason says exactly why, e.g.
	// "scope=some; member of group wheel (primary group)".
	Reason string
}

// ErrNoSuchUser is returned (wrapped) by Decide for a user who does not exist.
var ErrNoSuchUser = errors.New("no such user")

// Decide says whether the sessions of the user called name are recorded
// under policy p, looking users and groups up in dir.
func Decide(p *config.Policy, dir Directory, name string) (Decision, error) {
	u, err := dir.LookupUser(name)
	if errors.Is(err, ErrNotFound) {
		return Decision{}, fmt.Errorf("user %q: %w", name, ErrNoSuchUser)
	} else if err != nil {
		return Decision{}, fmt.Errorf("looking up user %q: %w", name, err)
	}
	d := Decision{User: name}
	switch p.Scope {
	case config.ScopeNone:
		d.Reason = "scope=none; nobody is recorded"
	case config.ScopeSome:
		if slices.Contains(p.Users, name) {
			d.Record, d.Reason = true, "scope=some; listed in users"+at(p, config.KeyUsers, " (%s)")
			return d, nil
		}
		g, how, err := memberOf(dir, u, p.Groups)
		if err != nil {
			return Decision{}, err
		}
		if g != "" {
			d.Record, d.Reason = true, fmt.Sprintf("scope=some; member of group %s (%s)", g, how)
			return d, nil
		}
		d.Reason = "scope=some; not in users or groups"
	case config.ScopeAll:
		if slices.Contains(p.ExcludeUsers, name) {
			d.Reason = "scope=all; excluded by exclude_users" + at(p, config.KeyExcludeUsers, " in %s")
			return d, nil
		}
		g, how, err := memberOf(dir, u, p.ExcludeGroups)
		if err != nil {
			return Decision{}, err
		}
		if g != "" {
			d.Reason = fmt.Sprintf("scope=all; excluded by exclude_groups%s: member of group %s (%s)", at(p, config.KeyExcludeGroups, " in %s"), g, how)
			return d, nil
		}
		d.Record, d.Reason = true, "scope=all; not excluded"
	default:
		return Decision{}, fmt.Errorf("invalid scope %v", p.Scope)
	}
	return d, nil
}

func at(p *config.Policy, key, format string) string {
	src := p.Source(key)
	if src.IsDefault() {
		return ""
	}
	return fmt.Sprintf(format, src)
}

// memberOf returns the first of groups that u is a member of, and how
// ("primary group" or "listed member"), or "" if none.
func memberOf(dir Directory, u User, groups []string) (string, string, error) {
	for _, name := range groups {
		g, err := dir.LookupGroup(name)
		if errors.Is(err, ErrNotFound) {
			continue
		} else if err != nil {
			return "", "", fmt.Errorf("looking up group %q: %w", name, err)
		}
		if g.GID == u.GID {
			return name, "primary group", nil
		}
		if slices.Contains(g.Members, u.Name) {
			return name, "listed member", nil
		}
	}
	return "", "", nil
}
