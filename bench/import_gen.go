package main

import (
	"bufio"
	"fmt"
	"os"
)

// The generated file looks like a real customer's export: ids of the kind
// billing systems hand out (cus_ + 11 base62 characters, in no particular
// order, so the unique index is written all over and not only at its end),
// company names from a few word lists (some with a comma, so quoted, and
// some with non-ASCII letters), a plan, a seat count (a JSON number, so a
// number UDF) and a region that a few rows leave empty. Every row is valid
// and every id unique, so every row becomes an account.

const csvHeader = "linked_account_id,name,udf.plan,udf.seats,udf.region\n"

var (
	nameFirst = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne",
		"Soylent", "Vandelay", "Pied Piper", "Aperture", "Black Mesa", "Massive Dynamic", "Oscorp", "Monarch", "Nakatomi", "Gekko",
		"Blue Sun", "Virtucon", "Dunder Mifflin", "Sterling Cooper", "Prestige", "Bluth", "Krusty", "Sirius", "Weyland", "Rekall",
		"Müller", "Société Générale", "Øresund", "Zürich", "São Paulo", "Kraków", "Ångström", "Northwind", "Contoso", "Fabrikam",
		"Tailspin", "Litware", "Proseware", "Adventure Works", "Wingtip", "Coho", "Lucerne", "Trey", "Fourth Coffee", "Alpine"}
	nameSecond = []string{"Analytics", "Logistics", "Labs", "Systems", "Foods", "Capital", "Health", "Robotics", "Media", "Energy",
		"Software", "Consulting", "Holdings", "Partners", "Industries", "Networks", "Solutions", "Bank", "Insurance", "Retail",
		"Studios", "Pharma", "Motors", "Airlines", "Telecom", "Security", "Cloud", "Data", "Games", "Travel"}
	// namePad lengthens names for a large file of fewer rows: the
	// divisions and regions that long legal names spell out.
	namePad = []string{"Regional Operations", "Northern Europe", "Customer Success", "Enterprise Accounts", "Latin America",
		"Asia Pacific", "Public Sector", "Research and Development", "Shared Services", "Strategic Partnerships", "Middle East and Africa",
		"Professional Services", "Channel Sales", "Platform Engineering", "Global Procurement", "Treasury", "Compliance and Risk"}
	nameSuffix = []string{"Inc.", "LLC", "GmbH", "Ltd", "S.A.", "B.V.", "Co.", "AG", "Corp.", "", ", Inc.", ", LLC"}
	csvPlans   = []string{"free", "free", "starter", "starter", "starter", "pro", "pro", "pro", "pro", "enterprise"}
	regions    = []string{"us-east", "us-east", "us-west", "eu-west", "eu-west", "eu-central", "ap-south", "ap-northeast", "sa-east", "ca-central",
		"us-east", "eu-west", "us-west", "ap-southeast", "me-central", "af-south", "us-east", "eu-north", "ap-east", ""}
)

// mix is splitmix64's finalizer: a bijection on 64-bit values, so distinct
// inputs give distinct (and well scattered) outputs.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// genOptions shape the generated rows.
type genOptions struct {
	seed    uint64
	sorted  bool // ids in ascending order
	nameLen int  // lengthen names to about this many bytes (at most 255); 0 leaves them short
}

// appendRow appends row i of the file and its line end.
func appendRow(b []byte, i uint64, o genOptions) []byte {
	seed := o.seed
	// The id: 11 base62 digits of a bijection of i (62^11 > 2^64), so ids
	// are unique however many rows there are; sorted, of i times a
	// constant, so that they grow from row to row but look alike.
	b = append(b, "cus_"...)
	v := mix(i ^ seed*0x9e3779b97f4a7c15)
	if o.sorted {
		v = (i + 1) * 1_000_003
	}
	var id [11]byte
	for k := len(id) - 1; k >= 0; k-- {
		id[k] = base62[v%62]
		v /= 62
	}
	b = append(b, id[:]...)
	b = append(b, ',')

	r := mix((i + 0x9e3779b97f4a7c15) ^ seed)
	first := nameFirst[r%uint64(len(nameFirst))]
	r /= uint64(len(nameFirst))
	second := nameSecond[r%uint64(len(nameSecond))]
	r /= uint64(len(nameSecond))
	suffix := nameSuffix[r%uint64(len(nameSuffix))]
	r /= uint64(len(nameSuffix))
	quoted := (len(suffix) > 0 && suffix[0] == ',') || o.nameLen > 0
	if quoted {
		b = append(b, '"')
	}
	start := len(b)
	b = append(b, first...)
	b = append(b, ' ')
	b = append(b, second...)
	if suffix != "" && suffix[0] != ',' {
		b = append(b, ' ')
	}
	b = append(b, suffix...)
	if o.nameLen > 0 {
		// "Acme Labs GmbH (Treasury, Public Sector, …)", cut at a word
		// boundary so that it stays within the API's 255 bytes.
		limit := min(o.nameLen, 255) - 1
		p := mix(i ^ 0x5bd1e995)
		for k := 0; ; k++ {
			word := namePad[(p+uint64(k)*7)%uint64(len(namePad))]
			sep := ", "
			if k == 0 {
				sep = " ("
			}
			if len(b)-start+len(sep)+len(word) > limit {
				break
			}
			b = append(b, sep...)
			b = append(b, word...)
		}
		b = append(b, ')')
	}
	if quoted {
		b = append(b, '"')
	}
	b = append(b, ',')

	plan := csvPlans[r%uint64(len(csvPlans))]
	r /= uint64(len(csvPlans))
	b = append(b, plan...)
	b = append(b, ',')

	var seats uint64
	switch plan {
	case "free":
		seats = 1 + r%3
	case "starter":
		seats = 1 + r%10
	case "pro":
		seats = 5 + r%95
	default:
		seats = 50 + r%4950
	}
	r /= 5000
	b = appendUint(b, seats)
	b = append(b, ',')

	b = append(b, regions[r%uint64(len(regions))]...)
	return append(b, '\n')
}

func appendUint(b []byte, v uint64) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}

// genFile writes a file of rows rows, or when rows is 0 of as many rows as
// fit in maxBytes, and returns its rows and size.
func genFile(path string, rows int64, maxBytes int64, o genOptions) (int64, int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	size := int64(len(csvHeader))
	w.WriteString(csvHeader)
	line := make([]byte, 0, 256)
	var n int64
	for rows == 0 || n < rows {
		line = appendRow(line[:0], uint64(n), o)
		if maxBytes > 0 && size+int64(len(line)) > maxBytes {
			break
		}
		w.Write(line)
		size += int64(len(line))
		n++
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, 0, err
	}
	if err := f.Close(); err != nil {
		return 0, 0, err
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("generate %s: no row fits in %d bytes", path, maxBytes)
	}
	return n, size, nil
}
