package execlog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

// Collection is where the records go, in the URI's database ("codeexec" when it names none).
const Collection = "executions"

// duplicateKey is the server's error code for a unique index violation.
const duplicateKey = 11000

// MongoStore keeps records in a MongoDB collection. It uses only what FerretDB v1 also does:
// plain inserts, finds with sort/limit/projection, deleteMany and ordinary indexes (no TTL
// index, no $group accumulators).
type MongoStore struct {
	client *mongo.Client
	coll   *mongo.Collection

	// The unique index on jobId must exist before the first insert, or a retried batch could
	// store a record twice; a database that is down at start gets its indexes on first write.
	mu      sync.Mutex
	indexed bool
}

// OpenMongo connects lazily (the driver dials in the background) and tries once to create the
// indexes; a database that does not answer yet is not an error, writes will wait for it.
func OpenMongo(ctx context.Context, uri string) (*MongoStore, error) {
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return nil, fmt.Errorf("DB %q is not a MongoDB URI (mongodb://host:27017/codeexec): %w", redact(uri), err)
	}
	db := cs.Database
	if db == "" {
		db = "codeexec"
	}
	// Defaults first, so that the URI's own options (serverSelectionTimeoutMS, ...) win.
	opts := options.Client().SetServerSelectionTimeout(5 * time.Second).SetConnectTimeout(5 * time.Second).ApplyURI(uri)
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("execution log database: %w", err)
	}
	s := &MongoStore{client: client, coll: client.Database(db).Collection(Collection)}
	_ = s.ensureIndexes(ctx)
	return s, nil
}

// redact hides the credentials of a URI (mongodb://user:password@host/...) for logs and errors.
func redact(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return uri
	}
	at := strings.LastIndex(rest, "@")
	if slash := strings.Index(rest, "/"); at < 0 || (slash >= 0 && slash < at) {
		return uri
	}
	return scheme + "://***@" + rest[at+1:]
}

func (s *MongoStore) ensureIndexes(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.indexed {
		return nil
	}
	_, err := s.coll.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "jobId", Value: 1}}, Options: options.Index().SetName("jobId_unique").SetUnique(true)},
		{Keys: bson.D{{Key: "created", Value: -1}}, Options: options.Index().SetName("created")},
		{Keys: bson.D{{Key: "language", Value: 1}, {Key: "created", Value: -1}}, Options: options.Index().SetName("language_created")},
	})
	if err != nil {
		return unavailable("creating indexes", err)
	}
	s.indexed = true
	return nil
}

func unavailable(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
}

// Insert stores records; records whose jobId is already stored (an earlier attempt of the same
// batch that reached the database although its answer did not come back) are skipped.
func (s *MongoStore) Insert(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := s.ensureIndexes(ctx); err != nil {
		return err
	}
	// Unordered: one duplicate does not stop the others.
	_, err := s.coll.InsertMany(ctx, recs, options.InsertMany().SetOrdered(false))
	if err == nil || onlyDuplicates(err) {
		return nil
	}
	return unavailable("inserting", err)
}

// onlyDuplicates reports whether every write error is a duplicate jobId and nothing else failed.
func onlyDuplicates(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != duplicateKey {
			return false
		}
	}
	return true
}

// Get finds one record by jobId.
func (s *MongoStore) Get(ctx context.Context, jobID string) (*Record, error) {
	var r Record
	err := s.coll.FindOne(ctx, bson.D{{Key: "jobId", Value: jobID}}).Decode(&r)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, unavailable("reading", err)
	}
	return &r, nil
}

var newestFirst = bson.D{{Key: "created", Value: -1}, {Key: "jobId", Value: -1}}

func (s *MongoStore) find(ctx context.Context, filter bson.D, opts *options.FindOptionsBuilder) ([]Record, error) {
	cur, err := s.coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, unavailable("reading", err)
	}
	out := []Record{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, unavailable("reading", err)
	}
	return out, nil
}

// List returns matching records, most recent first.
func (s *MongoStore) List(ctx context.Context, q Query) ([]Record, error) {
	filter := bson.D{}
	if q.Language != "" {
		filter = append(filter, bson.E{Key: "language", Value: q.Language})
	}
	if q.Status != "" {
		filter = append(filter, bson.E{Key: "status", Value: q.Status})
	}
	return s.find(ctx, filter, options.Find().SetSort(newestFirst).SetLimit(int64(q.Limit)))
}

// Sample reads the fields the stats need from the most recent limit records.
func (s *MongoStore) Sample(ctx context.Context, limit int) ([]Record, error) {
	proj := bson.D{{Key: "_id", Value: 0}}
	for _, f := range []string{"jobId", "language", "status", "runTimeStatus", "executionTime", "created"} {
		proj = append(proj, bson.E{Key: f, Value: 1})
	}
	return s.find(ctx, bson.D{}, options.Find().SetSort(newestFirst).SetLimit(int64(limit)).SetProjection(proj))
}

// DeleteBefore removes records created before t: retention without a TTL index, which FerretDB
// does not have.
func (s *MongoStore) DeleteBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.coll.DeleteMany(ctx, bson.D{{Key: "created", Value: bson.D{{Key: "$lt", Value: t}}}})
	if err != nil {
		return 0, unavailable("deleting old records", err)
	}
	return res.DeletedCount, nil
}

// Close disconnects.
func (s *MongoStore) Close(ctx context.Context) error { return s.client.Disconnect(ctx) }
