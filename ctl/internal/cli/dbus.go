package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/recd-dev/recd/internal/confedit"
	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/recd/dbusapi"
)

// apply makes edits to the main configuration file. When recd offers its D-Bus API
// (dev.recd.Recd1) for the same files, recd validates, writes and activates the edit, so
// its status stays true and the bus policy decides who may; otherwise recctl edits the
// file itself and report activates it (through recd's socket, or directly). The edits are
// idempotent (set, add, remove), so falling back after a failed call is safe.
func (a *App) apply(edits ...confedit.Edit) (*confedit.Result, error) {
	a.busResult = nil
	if res, done, err := a.applyOverBus(edits); done {
		return res, err
	}
	return a.editor().Apply(edits...)
}

// applyOverBus tries the edit through recd's D-Bus API. done is false when recctl should
// edit the file itself: no bus address (tests), no bus, recd not on it, recd using other
// files, an edit the API has no method for, or a failed call.
func (a *App) applyOverBus(edits []confedit.Edit) (res *confedit.Result, done bool, err error) {
	if a.DBusAddress == "" {
		return nil, false, nil
	}
	call := busEdit(edits)
	if call == nil {
		return nil, false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dbusapi.Dial(ctx, a.DBusAddress)
	if err != nil {
		if !errors.Is(err, dbusapi.ErrNotServing) {
			fmt.Fprintf(a.Stderr, "recctl: warning: %v; editing %s directly\n", err, a.ConfigPath)
		}
		return nil, false, nil
	}
	defer c.Close()
	st, err := c.Status()
	if err != nil {
		fmt.Fprintf(a.Stderr, "recctl: warning: recd's D-Bus API: %v; editing %s directly\n", err, a.ConfigPath)
		return nil, false, nil
	}
	if dbusapi.StatusString(st, "config_path") != a.ConfigPath || dbusapi.StatusString(st, "conf_dir") != a.DropinDir {
		return nil, false, nil // recd activates other files than the ones asked for
	}
	r, err := call(c)
	switch name := dbusapi.ErrorName(err); {
	case err == nil:
	case name == dbusapi.ErrInvalidConfig || name == dbusapi.ErrInvalidArgs:
		// recd refused the edit for the reason a local edit would give: say it the same way.
		return nil, true, errors.New(err.Error())
	default:
		fmt.Fprintf(a.Stderr, "recctl: warning: recd's D-Bus API: %v; editing %s directly\n", err, a.ConfigPath)
		return nil, false, nil
	}
	res = &confedit.Result{Warnings: r.Warnings, Written: r.Written}
	for _, ch := range r.Changes {
		res.Changes = append(res.Changes, confedit.Change{Key: ch.Key, Old: ch.Old, New: ch.New, WasSet: ch.WasSet})
	}
	a.busResult = r
	return res, true, nil
}

// busEdit returns the API call that makes edits, or nil when there is none: one scope
// edit (SetScope), one list edit (EditList), or all five keys set (SetPolicy, as
// import-sssd does).
func busEdit(edits []confedit.Edit) func(*dbusapi.Client) (*dbusapi.EditResult, error) {
	actions := map[confedit.Op]string{confedit.Set: "set", confedit.Add: "add", confedit.Remove: "remove"}
	switch {
	case len(edits) == 1 && edits[0].Key == config.KeyScope:
		if len(edits[0].Names) != 1 || edits[0].Op != confedit.Set {
			return nil
		}
		return func(c *dbusapi.Client) (*dbusapi.EditResult, error) { return c.SetScope(edits[0].Names[0]) }
	case len(edits) == 1:
		e := edits[0]
		return func(c *dbusapi.Client) (*dbusapi.EditResult, error) { return c.EditList(e.Key, actions[e.Op], e.Names) }
	case len(edits) == len(config.PolicyKeys):
		for i, e := range edits {
			if e.Key != config.PolicyKeys[i] || e.Op != confedit.Set || (i == 0 && len(e.Names) != 1) {
				return nil
			}
		}
		p := dbusapi.Policy{Scope: edits[0].Names[0], Users: edits[1].Names, Groups: edits[2].Names,
			ExcludeUsers: edits[3].Names, ExcludeGroups: edits[4].Names}
		return func(c *dbusapi.Client) (*dbusapi.EditResult, error) { return c.SetPolicy(p) }
	}
	return nil
}

// reportBus prints how recd activated the edit it made over D-Bus and returns the exit
// status (as activate does for an edit made here).
func (a *App) reportBus() int {
	r := a.busResult
	if r.ActivationError != "" {
		fmt.Fprintf(a.Stderr, "recctl: recd refused the configuration; the policy in force is unchanged:\n%s\n", r.ActivationError)
		return ExitUsage
	}
	fmt.Fprintf(a.Stdout, "Policy activated by recd (through D-Bus): %s\n", r.Summary)
	return ExitOK
}
