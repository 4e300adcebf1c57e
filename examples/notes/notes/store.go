package notes

import (
	"crypto/rand"
	"slices"
	"strings"
	"sync"
	"time"
)

// Note is one note.
type Note struct {
	ID         string    `json:"id"`
	Owner      string    `json:"owner"` // gatehouse user ID
	OwnerEmail string    `json:"owner_email,omitempty"`
	Title      string    `json:"title"`
	Body       string    `json:"body"`
	CreatedAt  time.Time `json:"created_at"`
}

// Store keeps notes in memory; it is safe for concurrent use. The zero
// value is not usable; call NewStore.
type Store struct {
	mu    sync.Mutex
	notes map[string]Note
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{notes: map[string]Note{}}
}

// Add stores a new note and returns it with its ID.
func (s *Store) Add(n Note) Note {
	n.ID = "note_" + strings.ToLower(rand.Text())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notes[n.ID] = n
	return n
}

// Get returns the note with the ID.
func (s *Store) Get(id string) (Note, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.notes[id]
	return n, ok
}

// List returns the notes of owner, or every note when owner is "", newest
// first.
func (s *Store) List(owner string) []Note {
	s.mu.Lock()
	out := make([]Note, 0, len(s.notes))
	for _, n := range s.notes {
		if owner == "" || n.Owner == owner {
			out = append(out, n)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Note) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Delete removes the note; deleting a missing note is not an error.
func (s *Store) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.notes, id)
}
