package metrics

import (
	"bufio"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/zombietrace/zombietrace/internal/procfs"
	"github.com/zombietrace/zombietrace/internal/report"
)

// cgroupRef locates a cgroup directory: a hierarchy's mount point and the
// cgroup's path below it. The zero value locates nothing.
type cgroupRef struct {
	root string
	path string
}

func (c cgroupRef) valid() bool { return c.root != "" && c.path != "" }

// pidsReader reads the pids controller's files of the cgroups that hold
// zombies.
type pidsReader struct {
	procRoot string
	v2Root   string
	v1Root   string
}

func newPidsReader(opts Options) *pidsReader {
	r := &pidsReader{procRoot: opts.ProcRoot, v2Root: opts.CgroupV2Root, v1Root: opts.CgroupV1PidsRoot}
	if r.v2Root == "" || r.v1Root == "" {
		v2, v1 := findCgroupMounts(filepath.Join(opts.ProcRoot, "self", "mountinfo"))
		if r.v2Root == "" {
			r.v2Root = v2
		}
		if r.v1Root == "" {
			r.v1Root = v1
		}
	}
	return r
}

// findCgroupMounts returns the first cgroup2 mount and the first cgroup v1
// mount with the pids controller in mountinfo. Either is "" when absent.
// The tracker takes the first cgroup2 mount too, and Record.Cgroup is
// relative to it.
func findCgroupMounts(mountinfo string) (v2, v1Pids string) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return "", ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// Fields: ID parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(s.Text())
		sep := slices.Index(fields, "-")
		if sep < 5 || sep+1 >= len(fields) {
			continue
		}
		mountPoint := fields[4]
		switch fsType := fields[sep+1]; {
		case fsType == "cgroup2" && v2 == "":
			v2 = mountPoint
		case fsType == "cgroup" && v1Pids == "" && sep+3 < len(fields):
			if slices.Contains(strings.Split(fields[sep+3], ","), "pids") {
				v1Pids = mountPoint
			}
		}
	}
	return v2, v1Pids
}

// locate finds the cgroup of the zombie in r whose pids files can be read:
// the cgroup v2 path in the record when that cgroup has pids.current,
// otherwise the zombie's v1 pids cgroup from /proc/PID/cgroup. It returns
// the zero cgroupRef when neither exists.
func (p *pidsReader) locate(r report.Record) cgroupRef {
	if p.v2Root != "" && r.Cgroup != "" {
		ref := cgroupRef{root: p.v2Root, path: r.Cgroup}
		if fileExists(filepath.Join(ref.root, ref.path, "pids.current")) {
			return ref
		}
	}
	if p.v1Root == "" || r.Zombie.PID == 0 {
		return cgroupRef{}
	}
	entries, err := procfs.ReadCgroup(p.procRoot, int(r.Zombie.PID))
	if err != nil {
		return cgroupRef{}
	}
	for _, e := range entries {
		// A path with ".." lies outside zombietrace's cgroup namespace and
		// cannot be found below the mount.
		if slices.Contains(e.Controllers, "pids") && !strings.Contains(e.Path, "..") {
			return cgroupRef{root: p.v1Root, path: e.Path}
		}
	}
	return cgroupRef{}
}

// pidsUsage is the pids.current and pids.max of one cgroup.
type pidsUsage struct {
	// path is the cgroup's path below its hierarchy's mount.
	path    string
	current float64
	// max is +Inf when pids.max is "max".
	max float64
}

// limiting returns the usage of the cgroup whose limit is the nearest to
// being reached among ref and its ancestors below the hierarchy root, as
// the kernel enforces every pids.max on the way up. When none of them has
// a finite pids.max it returns ref's own usage with max +Inf. It returns
// false when ref has no readable pids.current.
func (p *pidsReader) limiting(ref cgroupRef) (pidsUsage, bool) {
	own, ok := readPids(ref.root, ref.path)
	if !ok {
		return pidsUsage{}, false
	}
	best := own
	for dir := ref.path; dir != "/" && dir != "." && dir != ""; dir = path.Dir(dir) {
		u, ok := readPids(ref.root, dir)
		if !ok || math.IsInf(u.max, 1) {
			continue
		}
		if math.IsInf(best.max, 1) || u.max-u.current < best.max-best.current {
			best = u
		}
	}
	return best, true
}

// readPids reads pids.current and pids.max of the cgroup at dir below root.
func readPids(root, dir string) (pidsUsage, bool) {
	full := filepath.Join(root, dir)
	current, err := readUint(filepath.Join(full, "pids.current"))
	if err != nil {
		return pidsUsage{}, false
	}
	data, err := os.ReadFile(filepath.Join(full, "pids.max"))
	if err != nil {
		return pidsUsage{}, false
	}
	u := pidsUsage{path: dir, current: float64(current), max: math.Inf(1)}
	if text := strings.TrimSpace(string(data)); text != "max" {
		n, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return pidsUsage{}, false
		}
		u.max = float64(n)
	}
	return u, true
}

func readUint(name string) (uint64, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}
