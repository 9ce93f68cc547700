package bench

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Meta records where and when a run happened, so a figure can be traced
// back to its machine and commit.
type Meta struct {
	Started   time.Time `json:"started"`
	Commit    string    `json:"commit"` // git describe --always --dirty; "" outside a checkout
	Command   string    `json:"command,omitempty"`
	Hostname  string    `json:"hostname"`
	CPUModel  string    `json:"cpu_model"`
	Cores     int       `json:"cores"`
	MemBytes  int64     `json:"mem_bytes"`
	Kernel    string    `json:"kernel"`
	GoVersion string    `json:"go_version"`
	Java      string    `json:"java,omitempty"`
}

// CollectMeta describes this machine and checkout now.
func CollectMeta() Meta {
	m := Meta{Started: time.Now().UTC().Truncate(time.Second), Cores: runtime.NumCPU(), GoVersion: runtime.Version()}
	m.Hostname, _ = os.Hostname()
	m.Command = CommandLine(os.Args)
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(v)
				if len(f) > 0 {
					kb, _ := strconv.ParseInt(f[0], 10, 64)
					m.MemBytes = kb * 1024
				}
			}
		}
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		m.Kernel = utsString(u.Sysname[:]) + " " + utsString(u.Release[:])
	}
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("java", "-version").CombinedOutput(); err == nil {
		first, _, _ := strings.Cut(string(out), "\n")
		m.Java = strings.TrimSpace(first)
	}
	return m
}

// CommandLine is the command that reproduces a run from its arguments
// (program name first), quoted for a POSIX shell: a binary built by go run
// is named by its package instead of its temporary path.
func CommandLine(args []string) string {
	if len(args) == 0 {
		return ""
	}
	name := args[0]
	if strings.Contains(name, "go-build") {
		name = "go run ./cmd/" + filepath.Base(name)
	} else if filepath.IsAbs(name) {
		name = filepath.Base(name)
	}
	parts := []string{name}
	for _, a := range args[1:] {
		if a == "" || strings.ContainsAny(a, " \t'\"$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

func utsString[T int8 | uint8](a []T) string {
	b := make([]byte, 0, len(a))
	for _, c := range a {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(bytes.TrimSpace(b))
}

// Machine is a one-line description of the machine for reports.
func (m Meta) Machine() string {
	return strconv.Itoa(m.Cores) + " cores (" + m.CPUModel + "), " +
		strconv.FormatInt(m.MemBytes>>30, 10) + " GiB, " + m.Kernel + ", " + m.GoVersion
}
