//go:build linux

package action

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/zombietrace/zombietrace/internal/report"
)

// rules contains the compiled safety rules of a Config.
type rules struct {
	mode          string
	allowCommands []*regexp.Regexp
	denyCommands  []*regexp.Regexp
	allowCgroups  []string
	denyCgroups   []string
	allowHostInit bool
	// selfPID is zombietrace's own PID, which is never a target.
	selfPID uint32
	// selfPIDNamespace is the inode of zombietrace's PID namespace, or 0
	// when it could not be read.
	selfPIDNamespace uint32
}

func compileAll(patterns []string) ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	for _, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, re)
	}
	return out, nil
}

// check returns the reason to skip the zombie of r, or "" when every rule
// lets the action through. The parent's failure count is checked by the
// engine, not here.
func (ru *rules) check(r *report.Record) string {
	if r.ThreadsAlive {
		return "the zombie is a thread-group leader whose other threads still run; " +
			"no wait call can reap it before its last thread exits"
	}
	if r.Parent == nil || r.Parent.PID == 0 {
		return "the parent is unknown or not visible in zombietrace's PID namespace"
	}
	if r.Zombie.PID == 0 {
		return "the zombie is not visible in zombietrace's PID namespace"
	}
	if r.Parent.PID == 1 && !ru.allowHostInit {
		return "the parent is PID 1 of zombietrace's PID namespace; set --action-allow-host-init to act on it"
	}
	if r.Parent.PID == ru.selfPID {
		return "the parent is zombietrace itself"
	}
	if reason := ru.checkCommand(r.Parent); reason != "" {
		return reason
	}
	if reason := ru.checkCgroup(r.Cgroup); reason != "" {
		return reason
	}
	if ru.mode == ModeReap {
		if _, ok := ru.childPID(r); !ok {
			return "the zombie's PID in the parent's PID namespace is unknown: the parent is in a " +
				"namespace other than the zombie's and zombietrace's own"
		}
	}
	return ""
}

func (ru *rules) checkCommand(parent *report.Process) string {
	cmdline := strings.Join(parent.Cmdline, " ")
	matches := func(re *regexp.Regexp) bool {
		return re.MatchString(parent.Comm) || (cmdline != "" && re.MatchString(cmdline))
	}
	for _, re := range ru.denyCommands {
		if matches(re) {
			return fmt.Sprintf("the parent's command matches --action-deny-cmd %q", re.String())
		}
	}
	if len(ru.allowCommands) == 0 {
		return ""
	}
	for _, re := range ru.allowCommands {
		if matches(re) {
			return ""
		}
	}
	return "the parent's command matches no --action-allow-cmd expression"
}

func (ru *rules) checkCgroup(cgroup string) string {
	for _, prefix := range ru.denyCgroups {
		if cgroup != "" && hasPathPrefix(cgroup, prefix) {
			return fmt.Sprintf("the zombie's cgroup %s is under --action-deny-cgroup %s", cgroup, prefix)
		}
	}
	if len(ru.allowCgroups) == 0 {
		return ""
	}
	for _, prefix := range ru.allowCgroups {
		if cgroup != "" && hasPathPrefix(cgroup, prefix) {
			return ""
		}
	}
	if cgroup == "" {
		return "the zombie's cgroup is unknown and --action-allow-cgroup is set"
	}
	return fmt.Sprintf("the zombie's cgroup %s is under no --action-allow-cgroup prefix", cgroup)
}

// hasPathPrefix reports whether prefix is path or one of its ancestors.
func hasPathPrefix(path, prefix string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		return true
	}
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// childPID returns the zombie's PID in its parent's PID namespace, which is
// what the parent's waitid needs:
//
//   - Zombie.NSPID when parent and zombie are in the same PID namespace
//     (same PIDNamespace inode), such as a container's init and its orphans;
//   - Zombie.PID when the parent is in zombietrace's own namespace, since
//     Zombie.PID is the PID there;
//   - otherwise unknown: the parent is in a namespace of its own and the
//     zombie in a namespace below it, and the record carries the zombie's
//     PID in neither of those.
func (ru *rules) childPID(r *report.Record) (int, bool) {
	if r.Parent == nil {
		return 0, false
	}
	if r.Parent.PIDNamespace != 0 && r.Parent.PIDNamespace == r.Zombie.PIDNamespace && r.Zombie.NSPID != 0 {
		return int(r.Zombie.NSPID), true
	}
	if ru.selfPIDNamespace != 0 && r.Parent.PIDNamespace == ru.selfPIDNamespace && r.Zombie.PID != 0 {
		return int(r.Zombie.PID), true
	}
	return 0, false
}

// waitedBefore reports whether r lists a wait call of the parent for the
// zombie's PID. The tracker lists only the last few calls since the death.
func (ru *rules) waitedBefore(r *report.Record) bool {
	child, ok := ru.childPID(r)
	if !ok || r.Waits == nil {
		return false
	}
	target := fmt.Sprintf("pid %d", child)
	for _, call := range r.Waits.Recent {
		if call.Target == target {
			return true
		}
	}
	return false
}
