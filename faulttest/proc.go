// Package faulttest runs gatehouse the way it is deployed when scaled out —
// several `gatehouse serve` processes sharing one PostgreSQL and one Redis —
// entirely on loopback, with a private PostgreSQL and Redis of its own, so
// that its tests can break things for real: kill -9 an instance, stop and
// restart Redis or PostgreSQL, and check what clients see meanwhile.
//
// The package's tests (fault_test.go) are the fault tests; its exported
// helpers are also what cmd/gatehouse-propagation uses to start a cluster
// when it is not given one. Nothing here touches the machine's shared
// servers: every server runs from a temporary directory on a free port.
//
// Every child process is started with a parent-death signal (SIGKILL), so
// that a test binary killed by `go test -timeout` leaves nothing running.
package faulttest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrMissing means a program the cluster needs (initdb, postgres,
// redis-server, go) is not installed. Tests skip on it, loudly, unless
// GATEHOUSE_TEST_REQUIRE_SERVICES=1.
var ErrMissing = errors.New("faulttest: required program not found")

// proc is one child process: its command, its log file, and a channel
// closed when it has exited.
type proc struct {
	name    string
	path    string
	args    []string
	attr    *syscall.SysProcAttr
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // the exit status, once exited is closed
}

// start runs the command, appending its stdout and stderr to logPath.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.exited:
		default:
			return fmt.Errorf("%s is already running (pid %d)", p.name, p.cmd.Process.Pid)
		}
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "---- %s: %s %s\n", time.Now().Format(time.RFC3339Nano), p.path, strings.Join(p.args, " "))
	cmd := exec.Command(p.path, p.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	attr := &syscall.SysProcAttr{}
	if p.attr != nil {
		a := *p.attr
		attr = &a
	}
	// If this process dies (even by SIGKILL from go test's timeout), the
	// child gets SIGKILL too. Go sets it after any credential change, so
	// it survives the switch to the postgres user.
	attr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited = cmd, exited
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(exited)
	}()
	return nil
}

// running reports whether the process is started and has not exited.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// pid is the process ID of the running process, or 0.
func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// stop sends sig and waits up to grace for the exit, then SIGKILLs and
// waits again. Stopping a process that is not running does nothing.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		return nil
	case <-time.After(grace):
	}
	_ = cmd.Process.Kill()
	select {
	case <-exited:
		return fmt.Errorf("%s did not exit within %v of %v; killed", p.name, grace, sig)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) survived SIGKILL for 10s", p.name, cmd.Process.Pid)
	}
}

// exitErr is non-nil when the process has exited, saying how.
func (p *proc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return errors.New("not started")
	}
	select {
	case <-p.exited:
		if p.err == nil {
			return errors.New("exited with status 0")
		}
		return p.err
	default:
		return nil
	}
}

// Tail returns the last n lines of a log file, for failure messages.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitFor calls ready every 50ms until it returns nil, the process exits,
// or timeout passes.
func waitFor(p *proc, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if e := p.exitErr(); e != nil {
			return fmt.Errorf("%s exited while starting (%v); log %s:\n%s", p.name, e, p.logPath, Tail(p.logPath, 20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %v; log %s:\n%s", p.name, timeout, err, p.logPath, Tail(p.logPath, 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---- PostgreSQL ----

// Postgres is a private PostgreSQL server: a cluster made with initdb in
// a directory of its own, listening on 127.0.0.1 on a free port, with
// trust authentication for the postgres user. Run as root, it runs as the
// postgres system user (PostgreSQL refuses root).
type Postgres struct {
	Port   int
	Dir    string // holds data/ and the Unix socket
	binDir string
	proc   *proc
	cred   *syscall.Credential
	uid    int
	gid    int
}

// findPostgresBin returns the directory holding initdb and postgres: the
// newest /usr/lib/postgresql/*/bin (Debian), else wherever PATH has initdb.
func findPostgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if fileExists(filepath.Join(d, "initdb")) && fileExists(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if fileExists(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: initdb and postgres (looked in /usr/lib/postgresql/*/bin and PATH; apt-get install postgresql)", ErrMissing)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// StartPostgres makes a new cluster under dir (which it creates) and
// starts it on a free loopback port. Stop or Close it when done.
func StartPostgres(dir string) (*Postgres, error) {
	binDir, err := findPostgresBin()
	if err != nil {
		return nil, err
	}
	pg := &Postgres{Dir: dir, binDir: binDir, uid: -1, gid: -1}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("%w: running as root, PostgreSQL needs the postgres system user: %v", ErrMissing, err)
		}
		pg.uid, _ = strconv.Atoi(u.Uid)
		pg.gid, _ = strconv.Atoi(u.Gid)
		pg.cred = &syscall.Credential{Uid: uint32(pg.uid), Gid: uint32(pg.gid), NoSetGroups: true}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if pg.cred != nil {
		// The postgres user must reach dir: hand dir over, and open for
		// traversal (x only) the private directories above it that are
		// below the temporary directory — ours, made by os.MkdirTemp.
		// Nothing outside it is touched: a TMPDIR the postgres user cannot
		// traverse makes initdb fail with a message saying so.
		if err := os.Chown(dir, pg.uid, pg.gid); err != nil {
			return nil, err
		}
		tmp, _ := filepath.Abs(os.TempDir())
		abs, _ := filepath.Abs(dir)
		for d := filepath.Dir(abs); strings.HasPrefix(d, tmp+string(filepath.Separator)); d = filepath.Dir(d) {
			if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
				if err := os.Chmod(d, st.Mode().Perm()|0o711); err != nil {
					return nil, err
				}
			}
		}
	}
	data := filepath.Join(dir, "data")
	initdb := &proc{
		name: "initdb", path: filepath.Join(binDir, "initdb"), logPath: filepath.Join(dir, "initdb.log"),
		args: []string{"-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions"},
		attr: &syscall.SysProcAttr{Credential: pg.cred},
	}
	if err := initdb.start(); err != nil {
		return nil, err
	}
	<-initdb.exited
	if initdb.err != nil {
		return nil, fmt.Errorf("initdb: %v:\n%s", initdb.err, Tail(initdb.logPath, 30))
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	pg.Port = port
	pg.proc = &proc{
		name: "postgres", path: filepath.Join(binDir, "postgres"), logPath: filepath.Join(dir, "postgres.log"),
		args: []string{"-D", data, "-p", strconv.Itoa(port), "-k", dir,
			"-c", "listen_addresses=127.0.0.1",
			// A throwaway cluster: no fsync. A restart (Stop then Start)
			// is a clean shutdown, so nothing is lost by it.
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
			"-c", "max_connections=200", "-c", "log_min_messages=warning"},
		attr: &syscall.SysProcAttr{Credential: pg.cred},
	}
	if err := pg.Start(); err != nil {
		pg.Close()
		return nil, err
	}
	return pg, nil
}

// URL is the postgres:// URL of database db on this server.
func (pg *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.Port, db)
}

// Start starts the server (again), on the same port and data, and waits
// until it accepts connections.
func (pg *Postgres) Start() error {
	if err := pg.proc.start(); err != nil {
		return err
	}
	return waitFor(pg.proc, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return pgPing(ctx, pg.URL("postgres"))
	})
}

// Stop shuts the server down the way an operator's restart does (SIGINT:
// fast shutdown, clients disconnected, a checkpoint written) and waits.
func (pg *Postgres) Stop() error {
	return pg.proc.stop(syscall.SIGINT, 30*time.Second)
}

// Running reports whether the server process is up.
func (pg *Postgres) Running() bool { return pg.proc != nil && pg.proc.running() }

// LogPath is the server's log file.
func (pg *Postgres) LogPath() string { return pg.proc.logPath }

// Close stops the server (fast shutdown, then SIGKILL).
func (pg *Postgres) Close() error {
	if pg.proc == nil {
		return nil
	}
	return pg.proc.stop(syscall.SIGINT, 10*time.Second)
}

// CreateDatabase makes a new, empty database.
func (pg *Postgres) CreateDatabase(ctx context.Context, name string) error {
	return pgExec(ctx, pg.URL("postgres"), `CREATE DATABASE `+quoteIdent(name))
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// ---- Redis ----

// Redis is a private Redis server on a free loopback port, persisting with
// an append-only file in its directory (appendonly yes, no RDB snapshots)
// so that a restart keeps its data, as gatehouse needs.
type Redis struct {
	Port int
	Dir  string
	proc *proc
}

// StartRedis starts redis-server with its data in dir (which it creates).
// Extra arguments are appended (e.g. "--appendfsync", "always").
func StartRedis(dir string, extra ...string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("%w: redis-server (apt-get install redis-server)", ErrMissing)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--appendonly", "yes", "--dir", dir, "--save", "", "--logfile", "", "--daemonize", "no"}, extra...)
	rd := &Redis{Port: port, Dir: dir, proc: &proc{name: "redis-server", path: bin, args: args, logPath: filepath.Join(dir, "redis.log")}}
	if err := rd.Start(); err != nil {
		rd.Close()
		return nil, err
	}
	return rd, nil
}

// URL is the redis:// URL of database 0.
func (rd *Redis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", rd.Port) }

// Start starts the server (again) on the same port and directory and waits
// until it answers PING (after loading its append-only file).
func (rd *Redis) Start() error {
	if err := rd.proc.start(); err != nil {
		return err
	}
	return waitFor(rd.proc, 20*time.Second, func() error { return redisPing(rd.Port) })
}

// Stop shuts Redis down as `redis-cli shutdown` would (SIGTERM: the
// append-only file is flushed) and waits.
func (rd *Redis) Stop() error { return rd.proc.stop(syscall.SIGTERM, 20*time.Second) }

// Kill stops Redis with SIGKILL: whatever was not yet fsynced is lost.
func (rd *Redis) Kill() error { return rd.proc.stop(syscall.SIGKILL, time.Second) }

// Running reports whether the server process is up.
func (rd *Redis) Running() bool { return rd.proc != nil && rd.proc.running() }

// LogPath is the server's log file.
func (rd *Redis) LogPath() string { return rd.proc.logPath }

// Close stops the server.
func (rd *Redis) Close() error {
	if rd.proc == nil {
		return nil
	}
	return rd.proc.stop(syscall.SIGTERM, 10*time.Second)
}

// redisPing sends PING in RESP and expects +PONG (a server still loading
// its data answers -LOADING).
func redisPing(port int) error {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("redis answered %q", strings.TrimSpace(line))
	}
	return nil
}

// ---- gatehouse ----

// ModuleRoot is the directory of gatehouse's go.mod, found with
// `go env GOMOD` from the working directory.
func ModuleRoot() (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("%w: go", ErrMissing)
	}
	out, err := exec.Command(gobin, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside a Go module: run from the gatehouse source tree")
	}
	return filepath.Dir(mod), nil
}

// BuildGatehouse builds cmd/gatehouse of the module around the working
// directory into dir and returns the binary's path.
func BuildGatehouse(dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "gatehouse")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/gatehouse")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gatehouse: %v\n%s", err, out)
	}
	return bin, nil
}

// idPattern matches the IDs gatehouse puts in log messages, so that
// LogSummary can count messages that differ only by them.
var idPattern = regexp.MustCompile(`\b(usr|ses|key)_[a-z0-9]+\b`)

// LogSummary reads an instance's JSON log and counts its lines by level,
// message and error (IDs blanked): "12 × ERROR request failed: postgres: …".
func LogSummary(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	type key struct{ level, msg, err string }
	counts := map[key]int{}
	var order []key
	for _, line := range strings.Split(string(b), "\n") {
		var rec struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Err   string `json:"err"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg == "" {
			continue
		}
		k := key{rec.Level, rec.Msg, idPattern.ReplaceAllString(rec.Err, "${1}_…")}
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	var out []string
	for _, k := range order {
		s := fmt.Sprintf("%4d × %s %s", counts[k], k.level, k.msg)
		if k.err != "" {
			s += ": " + k.err
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return "(nothing logged)"
	}
	return strings.Join(out, "\n")
}

// Available checks, without starting anything, that the programs a
// cluster needs are installed: initdb and postgres (and, as root, the
// postgres user), redis-server unless withoutRedis, and go. The error
// wraps ErrMissing.
func Available(withoutRedis bool) error {
	var errs []error
	if _, err := findPostgresBin(); err != nil {
		errs = append(errs, err)
	} else if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			errs = append(errs, fmt.Errorf("%w: running as root, PostgreSQL needs the postgres system user: %v", ErrMissing, err))
		}
	}
	if _, err := exec.LookPath("redis-server"); err != nil && !withoutRedis {
		errs = append(errs, fmt.Errorf("%w: redis-server (apt-get install redis-server)", ErrMissing))
	}
	if _, err := exec.LookPath("go"); err != nil {
		errs = append(errs, fmt.Errorf("%w: go", ErrMissing))
	}
	return errors.Join(errs...)
}
