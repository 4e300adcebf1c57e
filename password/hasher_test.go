package password

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func testHasher() *Hasher {
	return NewHasher(Config{Params: TestParams()})
}

func TestHashVerifyRoundTrip(t *testing.T) {
	ctx := context.Background()
	h := testHasher()
	for _, pw := range []string{"correct horse battery staple", "", "пароль-ünïcödé-密码", strings.Repeat("x", 4096)} {
		enc, err := h.Hash(ctx, pw)
		if err != nil {
			t.Fatalf("Hash(%.20q): %v", pw, err)
		}
		if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
			t.Fatalf("Hash(%.20q) = %q, want argon2id PHC with test params", pw, enc)
		}
		ok, rehash, err := h.Verify(ctx, pw, enc)
		if err != nil || !ok || rehash {
			t.Errorf("Verify(%.20q) = %v, %v, %v; want true, false, nil", pw, ok, rehash, err)
		}
		ok, _, err = h.Verify(ctx, pw+"x", enc)
		if err != nil || ok {
			t.Errorf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
		}
	}
}

func TestHashUsesFreshSalt(t *testing.T) {
	ctx := context.Background()
	h := testHasher()
	a, err := h.Hash(ctx, "same password")
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Hash(ctx, "same password")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("two hashes of the same password are identical: %s", a)
	}
}

// TestDefaultParams is the one test that pays for the OWASP parameters.
func TestDefaultParams(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(Config{})
	if h.Params() != DefaultParams() {
		t.Fatalf("zero Config params = %+v, want %+v", h.Params(), DefaultParams())
	}
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("Hash = %q, want OWASP parameters", enc)
	}
	ok, rehash, err := h.Verify(ctx, "correct horse battery staple", enc)
	if err != nil || !ok || rehash {
		t.Fatalf("Verify = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

func TestVerifyReferenceVectors(t *testing.T) {
	// Produced by the argon2 reference implementation (Debian package
	// argon2, 0~20171227), e.g.
	//   echo -n "correct horse battery staple" | argon2 gatehouse-salt16 -id -t 1 -k 64 -p 1 -l 32 -e
	// so they pin our encoding and parameter order to the standard.
	ctx := context.Background()
	h := testHasher()
	vectors := []struct {
		password, encoded string
		rehash            bool
	}{
		{"correct horse battery staple", "$argon2id$v=19$m=64,t=1,p=1$Z2F0ZWhvdXNlLXNhbHQxNg$s8MkXTpePuBAluHXfKpdrQITwzbHnR9pBr4eXn1dtkk", false},
		{"correct horse battery staple", "$argon2id$v=19$m=256,t=3,p=4$Z2F0ZWhvdXNlLXNhbHQxNg$jEQJQ0QMwhskblL+9tJUsabxwF4U7bJBFHWnwgK1h0U", true},
		// The reference hash of "fi": the ligature "ﬁ" normalises to it.
		{"\ufb01", "$argon2id$v=19$m=64,t=1,p=1$Z2F0ZWhvdXNlLXNhbHQxNg$ePHzHx6h1zN3/AuoNSSwiRhwdBDQKez2+mLBgzsYW+g", false},
	}
	for _, v := range vectors {
		ok, rehash, err := h.Verify(ctx, v.password, v.encoded)
		if err != nil || !ok || rehash != v.rehash {
			t.Errorf("Verify(%q) = %v, %v, %v; want true, %v, nil", v.encoded, ok, rehash, err, v.rehash)
		}
		stored, err := decodePHC(v.encoded)
		if err != nil {
			t.Fatal(err)
		}
		if got := encodePHC(stored.params, stored.salt, stored.key); got != v.encoded {
			t.Errorf("decode/encode round trip: got %q, want %q", got, v.encoded)
		}
	}
	// The reference hash of the raw ligature can never match: whatever is
	// typed, we hash its NFKC form.
	const ligature = "$argon2id$v=19$m=64,t=1,p=1$Z2F0ZWhvdXNlLXNhbHQxNg$dSI/Fi0YWhmEnZch2z916SXE/LeUe9588m1lLjRdlzU"
	if ok, _, err := h.Verify(ctx, "\ufb01", ligature); err != nil || ok {
		t.Errorf("un-normalised reference hash of the ligature verified: %v, %v", ok, err)
	}
}

func TestVerifyTamperedHash(t *testing.T) {
	ctx := context.Background()
	h := testHasher()
	enc, err := h.Hash(ctx, "hunter2hunter2")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndexByte(enc, '$')
	salt := strings.LastIndexByte(enc[:i], '$')
	flip := func(s string, at int) string {
		b := []byte(s)
		if b[at] == 'A' {
			b[at] = 'B'
		} else {
			b[at] = 'A'
		}
		return string(b)
	}
	for name, tampered := range map[string]string{
		"hash byte": flip(enc, i+3),
		"salt byte": flip(enc, salt+3),
		"t changed": strings.Replace(enc, ",t=1,", ",t=2,", 1),
		"m changed": strings.Replace(enc, "m=64,", "m=72,", 1),
	} {
		if tampered == enc {
			t.Fatalf("%s: tampering changed nothing", name)
		}
		ok, _, err := h.Verify(ctx, "hunter2hunter2", tampered)
		if ok {
			t.Errorf("%s: tampered hash %q verified (err %v)", name, tampered, err)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	ctx := context.Background()
	h := testHasher()
	good, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	with := func(head string) string { return head + "$" + salt + "$" + key }

	cases := map[string]string{
		"empty":              "",
		"garbage":            "not a hash",
		"dollars only":       "$$$$$",
		"argon2i":            with("$argon2i$v=19$m=64,t=1,p=1"),
		"argon2d":            with("$argon2d$v=19$m=64,t=1,p=1"),
		"scrypt":             "$scrypt$ln=16,r=8,p=1$" + salt + "$" + key,
		"no version":         "$argon2id$m=64,t=1,p=1$" + salt + "$" + key,
		"version 16":         with("$argon2id$v=16$m=64,t=1,p=1"),
		"version huge":       with("$argon2id$v=99999999999999999999$m=64,t=1,p=1"),
		"huge memory":        with("$argon2id$v=19$m=4294967295,t=1,p=1"),
		"memory over cap":    with("$argon2id$v=19$m=262145,t=1,p=1"),
		"memory overflow":    with("$argon2id$v=19$m=4294967296,t=1,p=1"),
		"memory negative":    with("$argon2id$v=19$m=-1,t=1,p=1"),
		"memory plus sign":   with("$argon2id$v=19$m=+64,t=1,p=1"),
		"memory below lanes": with("$argon2id$v=19$m=8,t=1,p=2"),
		"huge iterations":    with("$argon2id$v=19$m=64,t=4294967295,p=1"),
		"zero iterations":    with("$argon2id$v=19$m=64,t=0,p=1"),
		"zero lanes":         with("$argon2id$v=19$m=64,t=1,p=0"),
		"lanes wrap uint8":   with("$argon2id$v=19$m=2048,t=1,p=257"),
		"huge lanes":         with("$argon2id$v=19$m=2048,t=1,p=255"),
		"params reordered":   with("$argon2id$v=19$t=1,m=64,p=1"),
		"extra param":        with("$argon2id$v=19$m=64,t=1,p=1,keyid=abc"),
		"missing param":      with("$argon2id$v=19$m=64,t=1"),
		"empty param":        with("$argon2id$v=19$m=,t=1,p=1"),
		"hex param":          with("$argon2id$v=19$m=0x40,t=1,p=1"),
		"bad salt b64":       "$argon2id$v=19$m=64,t=1,p=1$!!!!notbase64!!!!$" + key,
		"bad hash b64":       "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$*&^%",
		"padded b64":         "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key,
		"empty salt":         "$argon2id$v=19$m=64,t=1,p=1$$" + key,
		"short salt":         "$argon2id$v=19$m=64,t=1,p=1$AAAA$" + key,
		"empty hash":         "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$",
		"short hash":         "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$AAAAAAAA",
		"huge salt":          "$argon2id$v=19$m=64,t=1,p=1$" + strings.Repeat("A", 1<<20) + "$" + key,
		"huge hash":          "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 1<<20),
		"extra field":        good + "$extra",
		"missing field":      "$argon2id$v=19$m=64,t=1,p=1$" + salt,
		"no leading dollar":  strings.TrimPrefix(good, "$"),
		"trailing space":     good + " ",
		"nul byte":           with("$argon2id$v=19$m=64\x00,t=1,p=1"),
		"bcrypt cost 31":     "$2b$31$" + strings.Repeat("a", 53),
		"bcrypt cost 15":     "$2b$15$abcdefghijklmnopqrstuuJ5mfAZUs3QqjSFXHJtgCNyXJBa4kQ1O",
		"bcrypt garbage":     "$2a$" + strings.Repeat("$", 56),
		"bcrypt bad cost":    "$2a$xx$" + strings.Repeat("a", 53),
	}
	for name, enc := range cases {
		t.Run(name, func(t *testing.T) {
			before := h.Stats().Admitted
			ok, rehash, err := h.Verify(ctx, "pw", enc)
			if ok || rehash {
				t.Errorf("Verify(%.60q) = %v, %v; want false, false", enc, ok, rehash)
			}
			if err == nil {
				t.Fatalf("Verify(%.60q): no error", enc)
			}
			if !errors.Is(err, ErrInvalidHash) {
				t.Errorf("error %v does not wrap ErrInvalidHash", err)
			}
			// Refused before taking a pool slot, so before any hashing.
			if got := h.Stats().Admitted; got != before {
				t.Errorf("malformed hash took a pool slot")
			}
		})
	}
}

// FuzzDecodePHC checks that no input makes the decoder panic or accept
// parameters outside the limits.
func FuzzDecodePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g")
	f.Add("$argon2id$v=19$m=4294967295,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := decodePHC(s)
		if err != nil {
			return
		}
		if err := h.params.Validate(); err != nil {
			t.Fatalf("accepted %q with invalid params: %v", s, err)
		}
	})
}

func TestParamsValidate(t *testing.T) {
	for _, p := range []Params{DefaultParams(), TestParams()} {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	bad := TestParams()
	bad.Memory = maxMemory + 1
	if bad.Validate() == nil {
		t.Errorf("memory above cap accepted")
	}
	// A Hasher configured beyond the limits must refuse to hash rather
	// than write hashes its own Verify would reject.
	h := NewHasher(Config{Params: bad})
	if _, err := h.Hash(context.Background(), "pw"); err == nil {
		t.Errorf("Hash with invalid params succeeded")
	}
	if err := h.VerifyDummy(context.Background(), "pw"); err == nil {
		t.Errorf("VerifyDummy with invalid params succeeded")
	}
}

func TestNeedsRehashOnParamChange(t *testing.T) {
	ctx := context.Background()
	old := testHasher()
	enc, err := old.Hash(ctx, "open sesame")
	if err != nil {
		t.Fatal(err)
	}
	changes := map[string]func(*Params){
		"memory":      func(p *Params) { p.Memory = 128 },
		"iterations":  func(p *Params) { p.Iterations = 2 },
		"parallelism": func(p *Params) { p.Parallelism = 2 },
		"salt length": func(p *Params) { p.SaltLength = 32 },
		"key length":  func(p *Params) { p.KeyLength = 64 },
	}
	for name, change := range changes {
		p := TestParams()
		change(&p)
		h := NewHasher(Config{Params: p})
		ok, rehash, err := h.Verify(ctx, "open sesame", enc)
		if err != nil || !ok || !rehash {
			t.Errorf("%s changed: Verify = %v, %v, %v; want true, true, nil", name, ok, rehash, err)
		}
		// needsRehash is only reported for the right password.
		ok, rehash, err = h.Verify(ctx, "wrong", enc)
		if err != nil || ok || rehash {
			t.Errorf("%s changed, wrong password: Verify = %v, %v, %v; want false, false, nil", name, ok, rehash, err)
		}
	}
}

func TestVerifyBcrypt(t *testing.T) {
	ctx := context.Background()
	h := testHasher()
	// Generated here at MinCost, then relabelled to each accepted prefix:
	// the three variants differ only in historical bug fixes that do not
	// affect ASCII passwords.
	raw, err := bcrypt.GenerateFromPassword([]byte("legacy password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		enc := prefix + string(raw[4:])
		ok, rehash, err := h.Verify(ctx, "legacy password", enc)
		if err != nil || !ok || !rehash {
			t.Errorf("%s: Verify = %v, %v, %v; want true, true, nil", prefix, ok, rehash, err)
		}
		ok, rehash, err = h.Verify(ctx, "legacy passwore", enc)
		if err != nil || ok || rehash {
			t.Errorf("%s wrong password: Verify = %v, %v, %v; want false, false, nil", prefix, ok, rehash, err)
		}
	}
	// A well-known vector from another implementation (PHP password_hash,
	// "rasmuslerdorf", cost 10).
	const php = "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a"
	if ok, _, err := h.Verify(ctx, "rasmuslerdorf", php); err != nil || !ok {
		t.Errorf("PHP vector: Verify = %v, %v; want true, nil", ok, err)
	}
}

func TestVerifyBcryptUnnormalisedLegacy(t *testing.T) {
	// A legacy system hashed the decomposed form as typed; NFKC composes
	// it, so Verify must fall back to the raw input.
	ctx := context.Background()
	h := testHasher()
	decomposed := "cafe\u0301 au lait"
	if normalize(decomposed) == decomposed {
		t.Fatal("test input is already normalised")
	}
	raw, err := bcrypt.GenerateFromPassword([]byte(decomposed), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := h.Verify(ctx, decomposed, string(raw)); err != nil || !ok {
		t.Errorf("Verify = %v, %v; want true, nil", ok, err)
	}
}

func TestNFKCEquivalence(t *testing.T) {
	ctx := context.Background()
	h := testHasher()
	pairs := [][2]string{
		{"\ufb01nancial-secret", "financial-secret"}, // "ﬁ" ligature
		{"caf\u00e9-secret", "cafe\u0301-secret"},    // precomposed vs combining accent
		{"\uff30\uff41\uff53\uff53", "Pass"},         // fullwidth letters
		{"x\u00b2y", "x2y"},                          // superscript two
	}
	for _, p := range pairs {
		enc, err := h.Hash(ctx, p[0])
		if err != nil {
			t.Fatal(err)
		}
		ok, _, err := h.Verify(ctx, p[1], enc)
		if err != nil || !ok {
			t.Errorf("hash of %q does not verify %q: %v, %v", p[0], p[1], ok, err)
		}
	}
	// Normalisation must not merge genuinely different passwords.
	enc, err := h.Hash(ctx, "fi-secret")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := h.Verify(ctx, "FI-secret", enc); ok {
		t.Errorf("NFKC must not fold case")
	}
}

func TestVerifyDummy(t *testing.T) {
	h := testHasher()
	if err := h.VerifyDummy(context.Background(), "whatever"); err != nil {
		t.Fatal(err)
	}
	if got := h.Stats().Admitted; got != 1 {
		t.Errorf("VerifyDummy admitted %d times, want 1 (it must go through the pool)", got)
	}
	if h.Stats().Running != 0 {
		t.Errorf("slot not released")
	}
}

func TestConfigDefaults(t *testing.T) {
	h := NewHasher(Config{Params: Params{Memory: 64}, MaxConcurrent: 3})
	if h.params.Iterations != 2 || h.params.Parallelism != 1 || h.params.SaltLength != 16 || h.params.KeyLength != 32 || h.params.Memory != 64 {
		t.Errorf("params = %+v, want zero fields filled from DefaultParams", h.params)
	}
	if cap(h.slots) != 3 || h.maxQueue != 3*DefaultQueuePerSlot || h.queueTimeout != 2*time.Second {
		t.Errorf("pool = %d slots, queue %d, timeout %v; want 3, %d, 2s", cap(h.slots), h.maxQueue, h.queueTimeout, 3*DefaultQueuePerSlot)
	}
	if h := NewHasher(Config{MaxConcurrent: 1, MaxQueue: -1}); h.maxQueue != 0 {
		t.Errorf("MaxQueue -1 gave queue %d, want 0", h.maxQueue)
	}
}

// blockingHasher returns a Hasher whose hashing blocks after taking a slot
// until release is closed; entered receives one value per admitted call.
func blockingHasher(cfg Config) (h *Hasher, entered chan struct{}, release chan struct{}) {
	cfg.Params = TestParams()
	h = NewHasher(cfg)
	entered = make(chan struct{}, 16)
	release = make(chan struct{})
	h.beforeWork = func() {
		entered <- struct{}{}
		<-release
	}
	return h, entered, release
}

func TestPoolRejectsWhenFull(t *testing.T) {
	ctx := context.Background()
	h, entered, release := blockingHasher(Config{MaxConcurrent: 1, MaxQueue: -1})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := h.Hash(ctx, "first"); err != nil {
			t.Errorf("first Hash: %v", err)
		}
	}()
	<-entered // the first call holds the only slot

	if _, err := h.Hash(ctx, "second"); !errors.Is(err, ErrBusy) {
		t.Errorf("second Hash error = %v, want ErrBusy", err)
	}
	if _, _, err := h.Verify(ctx, "second", "$2a$04$abcdefghijklmnopqrstuuJ5mfAZUs3QqjSFXHJtgCNyXJBa4kQ1O"); !errors.Is(err, ErrBusy) {
		t.Errorf("bcrypt Verify error = %v, want ErrBusy", err)
	}
	if err := h.VerifyDummy(ctx, "second"); !errors.Is(err, ErrBusy) {
		t.Errorf("VerifyDummy error = %v, want ErrBusy", err)
	}
	s := h.Stats()
	if s.Running != 1 || s.Waiting != 0 || s.Rejected != 3 || s.Admitted != 1 {
		t.Errorf("Stats = %+v, want 1 running, 0 waiting, 3 rejected, 1 admitted", s)
	}
	close(release)
	wg.Wait()
	if s := h.Stats(); s.Running != 0 {
		t.Errorf("Running = %d after completion, want 0", s.Running)
	}
	// With the slot free again, work is admitted.
	h.beforeWork = nil
	if _, err := h.Hash(ctx, "third"); err != nil {
		t.Errorf("Hash after release: %v", err)
	}
}

// waitFor polls cond; it fails the test only after a generous deadline, so
// it never turns a slow machine into a failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPoolQueues(t *testing.T) {
	ctx := context.Background()
	h, entered, release := blockingHasher(Config{MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: time.Hour})
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := h.Hash(ctx, "pw")
			errs <- err
		}()
	}
	<-entered
	waitFor(t, "a queued waiter", func() bool { return h.Stats().Waiting == 1 })

	// Queue full: a third caller is refused at once, not after waiting
	// (the deadline only keeps a broken pool from hanging the test).
	short, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := h.Hash(short, "third"); !errors.Is(err, ErrBusy) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("third Hash error = %v, want ErrBusy at once", err)
	}
	close(release) // both queued calls now run
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("queued Hash: %v", err)
		}
	}
	s := h.Stats()
	if s.Admitted != 2 || s.Rejected != 1 || s.Waiting != 0 || s.Running != 0 || s.WaitTime <= 0 {
		t.Errorf("Stats = %+v, want 2 admitted, 1 rejected, none waiting or running, some wait time", s)
	}
}

func TestPoolRefusesAtOnceWhatCouldNotBeServedInTime(t *testing.T) {
	// Two slots, room for ten waiters, an hour's patience and hashes that
	// take 20 minutes (set directly: the estimate, not the clock, is under
	// test). A waiter at queue position p expects p*20m/2: positions 1 to 4
	// (10 to 40 minutes) wait, position 5 (50 minutes, past the 45 that
	// 3/4 of the timeout allows) would likely time out later, so it is
	// refused at once although the queue has room.
	ctx := context.Background()
	h, entered, release := blockingHasher(Config{MaxConcurrent: 2, MaxQueue: 10, QueueTimeout: time.Hour})
	h.holdNanos.Store(int64(20 * time.Minute))
	errs := make(chan error, 6)
	for range 6 {
		go func() {
			_, err := h.Hash(ctx, "pw")
			errs <- err
		}()
	}
	<-entered
	<-entered
	waitFor(t, "four queued waiters", func() bool { return h.Stats().Waiting == 4 })
	// Saturated says so before any hash is asked for (and counts it).
	if !h.Saturated() {
		t.Error("Saturated() = false with the queue as long as can be served in time")
	}
	// The deadline only keeps a broken pool from hanging the test.
	short, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := h.Hash(short, "fifth in the queue"); !errors.Is(err, ErrBusy) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("fifth waiter: error = %v, want ErrBusy at once", err)
	}
	close(release)
	for range 6 {
		if err := <-errs; err != nil {
			t.Errorf("running or queued Hash: %v", err)
		}
	}
	s := h.Stats()
	if s.Admitted != 6 || s.Rejected != 2 || s.Waiting != 0 || s.Running != 0 {
		t.Errorf("Stats = %+v, want 6 admitted, 2 rejected (one Saturated, one Hash), idle", s)
	}
	if h.Saturated() {
		t.Error("Saturated() = true with the pool idle")
	}
	// Each real hold (microseconds here) pulls the average down by an
	// eighth of the difference.
	if s.HoldTime <= 0 || s.HoldTime >= 20*time.Minute {
		t.Errorf("HoldTime = %v, want between 0 and the 20m it started from", s.HoldTime)
	}
}

func TestPoolHoldTimeAverage(t *testing.T) {
	h := NewHasher(Config{Params: TestParams()})
	if got := h.Stats().HoldTime; got != 0 {
		t.Fatalf("HoldTime before any hash = %v, want 0", got)
	}
	if _, err := h.Hash(context.Background(), "pw"); err != nil {
		t.Fatal(err)
	}
	first := h.Stats().HoldTime
	if first <= 0 {
		t.Fatalf("HoldTime after one hash = %v, want the hash's time", first)
	}
	h.holdNanos.Store(int64(time.Hour))
	if _, err := h.Hash(context.Background(), "pw"); err != nil {
		t.Fatal(err)
	}
	// A fast hash after an hour-long average moves it down by about 1/8.
	if got := h.Stats().HoldTime; got < 52*time.Minute || got > 53*time.Minute {
		t.Errorf("HoldTime = %v, want about 7/8 of an hour", got)
	}
}

func TestPoolQueueTimeout(t *testing.T) {
	ctx := context.Background()
	h, entered, release := blockingHasher(Config{MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: 5 * time.Millisecond})
	defer close(release)
	go h.Hash(ctx, "holder")
	<-entered
	// The holder never lets go while this caller waits, so the timeout
	// must fire whatever the scheduling.
	// The deadline only keeps a broken timeout from hanging the test.
	bounded, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := h.Hash(bounded, "waiter")
	if !errors.Is(err, ErrBusy) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want ErrBusy from the queue timeout", err)
	}
	if waited := time.Since(start); waited < 5*time.Millisecond {
		t.Errorf("gave up after %v, before QueueTimeout", waited)
	}
	if s := h.Stats(); s.WaitTime < 5*time.Millisecond || s.Rejected != 1 {
		t.Errorf("Stats = %+v, want >= 5ms wait and 1 rejected", s)
	}
}

func TestPoolContextCancelled(t *testing.T) {
	// The queue timeout is long enough never to fire first, yet bounds the
	// test if cancellation were ignored.
	h, entered, release := blockingHasher(Config{MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: 30 * time.Second})
	defer close(release)

	// Already cancelled: refused even though a slot is free.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(done, "pw"); !errors.Is(err, ErrBusy) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: error = %v, want ErrBusy wrapping context.Canceled", err)
	}
	if s := h.Stats(); s.Admitted != 0 {
		t.Errorf("cancelled ctx was admitted")
	}

	go h.Hash(context.Background(), "holder")
	<-entered

	// Cancelled while queued.
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := h.Verify(ctx, "pw", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g")
		errc <- err
	}()
	waitFor(t, "the verify to queue", func() bool { return h.Stats().Waiting == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, ErrBusy) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancel while queued: error = %v, want ErrBusy wrapping context.Canceled", err)
	}
	if s := h.Stats(); s.Waiting != 0 || s.Rejected != 2 {
		t.Errorf("Stats = %+v, want 0 waiting, 2 rejected", s)
	}
}

func TestPoolConcurrentUse(t *testing.T) {
	// Many callers on a small pool: everyone either succeeds or gets
	// ErrBusy, and the counters return to zero.
	ctx := context.Background()
	h := NewHasher(Config{Params: TestParams(), MaxConcurrent: 2, MaxQueue: 4})
	enc, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			ok, _, err := h.Verify(ctx, "pw", enc)
			if err != nil && !errors.Is(err, ErrBusy) {
				t.Errorf("Verify: %v", err)
			}
			if err == nil && !ok {
				t.Errorf("Verify refused the right password")
			}
		})
	}
	wg.Wait()
	s := h.Stats()
	if s.Running != 0 || s.Waiting != 0 || s.Admitted+s.Rejected != 33 {
		t.Errorf("Stats = %+v, want idle and 33 calls accounted for", s)
	}
}

func BenchmarkHashDefault(b *testing.B) {
	h := NewHasher(Config{Params: DefaultParams()})
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHashTest(b *testing.B) {
	h := testHasher()
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyDefault(b *testing.B) {
	h := NewHasher(Config{Params: DefaultParams()})
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _, err := h.Verify(ctx, "correct horse battery staple", enc); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkVerifyDummyDefault(b *testing.B) {
	h := NewHasher(Config{Params: DefaultParams()})
	ctx := context.Background()
	for b.Loop() {
		if err := h.VerifyDummy(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyBcryptCost10(b *testing.B) {
	h := NewHasher(Config{Params: DefaultParams()})
	ctx := context.Background()
	const php = "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a"
	for b.Loop() {
		if ok, _, err := h.Verify(ctx, "rasmuslerdorf", php); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
