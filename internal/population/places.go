package population

import "strings"

// town is a post town with its postcode area, the range of its district
// numbers, and a weight roughly proportional to its population.
type town struct {
	name, county, area string
	maxDistrict        int // districts 1..maxDistrict
	weight             int
	subDistricts       bool // central districts carry a letter (W1A, EC1A)
}

// towns covers the UK's postcode formats: single-letter areas (B, E, G,
// L, M, N, S, W) give A9 and A99 outward codes, two-letter areas give AA9
// and AA99, and the central London districts give A9A and AA9A.
var towns = []town{
	{"London", "", "E", 20, 90, true},
	{"London", "", "EC", 4, 10, true},
	{"London", "", "N", 22, 90, true},
	{"London", "", "NW", 11, 70, true},
	{"London", "", "SE", 28, 110, true},
	{"London", "", "SW", 20, 100, true},
	{"London", "", "W", 14, 80, true},
	{"London", "", "WC", 2, 10, true},
	{"Croydon", "Surrey", "CR", 8, 40, false},
	{"Birmingham", "West Midlands", "B", 99, 110, false},
	{"Manchester", "Greater Manchester", "M", 90, 100, false},
	{"Leeds", "West Yorkshire", "LS", 29, 80, false},
	{"Liverpool", "Merseyside", "L", 40, 50, false},
	{"Sheffield", "South Yorkshire", "S", 99, 60, false},
	{"Bristol", "Avon", "BS", 49, 50, false},
	{"Newcastle upon Tyne", "Tyne and Wear", "NE", 88, 50, false},
	{"Nottingham", "Nottinghamshire", "NG", 34, 45, false},
	{"Leicester", "Leicestershire", "LE", 19, 40, false},
	{"Bradford", "West Yorkshire", "BD", 24, 35, false},
	{"Coventry", "West Midlands", "CV", 47, 30, false},
	{"Hull", "East Yorkshire", "HU", 20, 25, false},
	{"Stoke-on-Trent", "Staffordshire", "ST", 21, 25, false},
	{"Wolverhampton", "West Midlands", "WV", 16, 25, false},
	{"Derby", "Derbyshire", "DE", 75, 25, false},
	{"Southampton", "Hampshire", "SO", 53, 25, false},
	{"Portsmouth", "Hampshire", "PO", 41, 25, false},
	{"Plymouth", "Devon", "PL", 35, 20, false},
	{"Exeter", "Devon", "EX", 39, 15, false},
	{"Truro", "Cornwall", "TR", 27, 10, false},
	{"Norwich", "Norfolk", "NR", 35, 20, false},
	{"Cambridge", "Cambridgeshire", "CB", 25, 15, false},
	{"Oxford", "Oxfordshire", "OX", 49, 15, false},
	{"Reading", "Berkshire", "RG", 45, 20, false},
	{"Brighton", "East Sussex", "BN", 45, 20, false},
	{"Canterbury", "Kent", "CT", 21, 15, false},
	{"York", "North Yorkshire", "YO", 62, 15, false},
	{"Doncaster", "South Yorkshire", "DN", 55, 15, false},
	{"Preston", "Lancashire", "PR", 26, 15, false},
	{"Blackburn", "Lancashire", "BB", 18, 10, false},
	{"Bolton", "Greater Manchester", "BL", 9, 10, false},
	{"Carlisle", "Cumbria", "CA", 28, 8, false},
	{"Lincoln", "Lincolnshire", "LN", 13, 10, false},
	{"Peterborough", "Cambridgeshire", "PE", 38, 15, false},
	{"Ipswich", "Suffolk", "IP", 33, 10, false},
	{"Chelmsford", "Essex", "CM", 24, 15, false},
	{"Luton", "Bedfordshire", "LU", 7, 10, false},
	{"Milton Keynes", "Buckinghamshire", "MK", 46, 12, false},
	{"Northampton", "Northamptonshire", "NN", 18, 12, false},
	{"Gloucester", "Gloucestershire", "GL", 56, 12, false},
	{"Bath", "Somerset", "BA", 22, 8, false},
	{"Bournemouth", "Dorset", "BH", 31, 12, false},
	{"Cardiff", "South Glamorgan", "CF", 83, 20, false},
	{"Swansea", "West Glamorgan", "SA", 73, 12, false},
	{"Edinburgh", "Midlothian", "EH", 55, 20, false},
	{"Glasgow", "Lanarkshire", "G", 84, 25, false},
	{"Aberdeen", "Aberdeenshire", "AB", 56, 8, false},
	{"Belfast", "County Antrim", "BT", 94, 15, false},
	{"Telford", "Shropshire", "TF", 13, 6, false},
	{"Worcester", "Worcestershire", "WR", 15, 8, false},
	{"Darlington", "County Durham", "DL", 17, 8, false},
}

// inwardLetters are the letters allowed in the last two places of a
// postcode (C, I, K, M, O and V are never used there).
const inwardLetters = "ABDEFGHJLNPQRSTUWXYZ"

// subDistrictLetters are the letters used after central London district
// numbers (EC1A, W1D, SW1P).
const subDistrictLetters = "ABCDEFGHJKLMNPRSTUVWXY"

var streetNames = spacedFields(`Acacia Albert Alexandra Alma Ash Beech Birch Blenheim Bridge Broad Brook
	Cambridge Castle Cedar Chapel Charles Cherry Chestnut Church Clarence College Coronation Cromwell
	Elm Fern Forest Garden Gladstone Grange Granville Green Grove Hawthorn Hazel Heath High Highfield
	Hill Holly Jubilee King Kingsway Laburnum Lancaster Larch Laurel Lime Linden Manor Maple Market
	Meadow Mill Newton Nelson North Oak Orchard Park Poplar Primrose Princess Queen Queens Railway
	Regent Richmond Rose Rowan St_Andrew's St_John's St_Mary's Salisbury School Spring Station Stanley
	Stonebridge Sycamore Talbot The_Avenue Tudor Vicarage Victoria Walnut Warwick Water Wellington
	West Westfield William Willow Windsor Woodland York`)

var streetSuffixes = strings.Fields(`Road Street Lane Avenue Close Drive Way Crescent Gardens Grove Place
	Terrace Court Walk Mews Rise View`)

var localities = strings.Fields(`Northfield Southgate Eastwood Westbury Kingsley Oakwood Ashton Fairfield
	Hillside Parkside Riverside Moorside Brookside Woodside Highfields Greenhill Newtown Oldtown
	Millbrook Stonehill`)

var buildingNames = spacedFields(`Victoria_House Albion_Court Riverside_Apartments Park_View Mill_House
	Wharf_Building Rosewood_Court Kings_Lodge Queensway_House The_Maltings`)
