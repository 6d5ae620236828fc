package population

import "strings"

// spacedFields splits s on white space and turns "_" inside a field into
// a space, so multi-word names can be listed one per field.
func spacedFields(s string) []string {
	f := strings.Fields(s)
	for i, w := range f {
		f[i] = strings.ReplaceAll(w, "_", " ")
	}
	return f
}

// Surnames in rough order of frequency in England and Wales (ONS and
// census-derived rankings), including names with diacritics, apostrophes
// and particles. "_" stands for a space inside a name.
var surnameList = spacedFields(`
Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson
Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner Martin
Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips
Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson Bailey
Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall Anderson Simpson Ellis Adams Singh Begum
Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Ali Hunt Hussain Campbell Matthews Owen
Palmer Holmes Mills Barnes Knight Lloyd Butler Russell Barker Fisher Stevens Jenkins Murray Dixon
Harvey Graham Pearson Ahmed Fletcher Walsh Kaur Gibson Howard Andrews Stewart Elliott Reynolds
Saunders Payne Fox Ford Pearce Day Brooks West Lawrence Cole Atkinson Bradley Spencer Gill Dawson
Ball Burton O'Brien Watts Rose Booth Perry Ryan Grant Wells Armstrong Francis Rees Hayes Hart
Hudson Newman Barrett Webster Hunter Gregory Carr Lowe Page Marsh Riley Dunn Woods Parsons Berry
Stone Reid Holland Hawkins Harding Porter Robertson Newton Oliver Reed Kennedy Williamson Bird
Gardner Shah Dean Lane Cooke Bates Henderson Parry Burgess Bishop Walton Burns Nicholson Shepherd
Ross Cross Long Freeman Warren Nicholls Hamilton Byrne Sutton McDonald Yates Hodgson Robson Curtis
Hopkins O'Connor Harper Coleman Watkins Moss McCarthy Chambers O'Neill Griffin Sharp Hardy Wheeler
Potter Osborne Johnston Gordon Doyle Wallace George Jordan Hutchinson Rowe Burke May Pritchard
Gilbert Willis Higgins Read Miles Stevenson Hammond Arnold Buckley Walters Hewitt Barber Nelson
Slater Austin Sullivan Whitehead Mann Frost Lambert Stephens Blake Akhtar Lynch Goodwin Barton
Woodward Thomson Cunningham Quinn Barnett Baxter Bibi Clayton Nash Greenwood Jennings Holt Kemp
Poole Gallagher Bond Stokes Tucker Davidson Fowler Heath Norman Middleton Lawson Banks French
Stanley Jarvis Gibbs Ferguson Hayward Carroll Farrell Nguyen Wang Chen Kowalski Nowak Kowalczyk
Wiśniewski Müller García Rodríguez Fernández Brontë D'Arcy O'Sullivan O'Donnell Ó_Briain
Ó_Súilleabháin Mac_Giolla Van_der_Berg De_Souza St_John Da_Silva Okafor Adeyemi Mensah Oyelaran
`)

// Parts for the long tail of English toponymic surnames (Ashworth,
// Bradley, Thornton...), which keeps common name and birth-date pairs
// realistically rare in large populations.
var (
	tailPrefixes = strings.Fields(`Ash Black Brad Brook Cal Cran Dal Ed Fair Green Hal Hart Hay Holt Kings
		Lang Lin Mar Mid Moor North Oak Pen Red Ridg Rush Sand Shel South Stan Stock Thorn Wake Wal
		West Whit Win Wood Brom Pres`)
	tailSuffixes = strings.Fields(`ley ton well worth ford field by ham wood more stone croft shaw bury
		hurst combe dale wick thorpe don`)
)

// Given names as "Name:peakYear:weight": the year of peak popularity and
// a relative weight 1–9 at the peak. Popularity falls off with distance
// from the peak year, so older patients have older names. A name that
// came back into fashion is listed twice.
var maleGiven = strings.Fields(`
John:1945:9 William:1930:7 George:1925:5 George:2015:6 Arthur:1920:5 Arthur:2018:4 Albert:1915:5
Frederick:1920:4 Harold:1920:5 Ernest:1915:4 Alfred:1915:4 Walter:1915:4 Leonard:1925:4 Stanley:1925:4
Frank:1925:4 Herbert:1915:3 Sidney:1920:3 Reginald:1920:3 Cyril:1920:3 Norman:1935:4 Kenneth:1940:5
Ronald:1935:5 Dennis:1940:4 Donald:1940:3 Roy:1940:4 Raymond:1945:4 Eric:1930:4 Leslie:1930:3
Douglas:1935:3 Gordon:1940:3 Bernard:1935:3 Harry:1920:4 Harry:2010:7 Thomas:1925:5 Thomas:1995:8
Joseph:1925:4 Joseph:2000:6 Charles:1930:4 Charles:2010:5 Edward:1935:4 Edward:2005:4 Henry:1920:3
Henry:2015:6 James:1955:8 James:1995:8 Robert:1955:8 Michael:1960:9 David:1960:9 Peter:1955:7
Brian:1950:6 Alan:1955:6 Anthony:1955:6 Christopher:1975:8 Richard:1965:7 Stephen:1965:7 Paul:1968:8
Mark:1970:8 Andrew:1975:8 Ian:1965:6 Gary:1968:6 Kevin:1968:6 Colin:1955:5 Keith:1955:5 Graham:1960:5
Martin:1965:5 Philip:1960:5 Trevor:1955:4 Terence:1950:4 Barry:1955:4 Derek:1950:4 Geoffrey:1945:3
Malcolm:1950:3 Nigel:1962:4 Neil:1968:5 Simon:1970:5 Jonathan:1975:5 Timothy:1968:4 Jeremy:1965:3
Darren:1972:5 Lee:1975:5 Wayne:1972:4 Dean:1975:4 Craig:1975:5 Jason:1975:5 Matthew:1985:8
Daniel:1990:8 Adam:1990:6 Ryan:1992:6 Luke:1995:6 Jamie:1992:5 Scott:1985:5 Stuart:1975:4 Carl:1972:4
Shaun:1975:3 Sean:1980:4 Seán:1985:2 Liam:1995:6 Kyle:1995:4 Callum:1998:5 Connor:1998:5 Jordan:1995:4
Jack:2000:9 Joshua:2000:8 Samuel:2000:6 Benjamin:2000:5 Nathan:1995:5 Aaron:1993:4 Lewis:1995:5
Alexander:2005:5 Oliver:2010:9 Jacob:2005:6 Ethan:2008:5 Dylan:2005:5 Rhys:1995:4 Owen:2000:4
Harrison:2010:4 Noah:2018:8 Leo:2018:7 Oscar:2015:6 Theo:2020:6 Freddie:2015:5 Archie:2012:6
Alfie:2010:6 Charlie:2010:7 Jake:2000:5 Max:2010:5 Isaac:2015:5 Logan:2015:5 Mason:2015:4
Lucas:2018:5 Finley:2012:4 Riley:2010:4 Teddy:2020:5 Reuben:2015:3 Ronnie:2020:4 Tommy:2018:4
Jaxon:2020:3 Muhammad:2015:7 Mohammed:2005:5 Mohammad:2000:3 Ahmed:1995:3 Ali:1990:3 Omar:2000:3
Yusuf:2012:3 Ibrahim:2010:3 Hamza:2005:3 Ravi:1975:2 Sanjay:1975:2 Rajesh:1970:2 Amit:1985:2
Arjun:2010:2 Aarav:2018:2 Krishna:2005:1 Imran:1985:2 Bilal:1995:2 Tariq:1980:2 Kwame:1990:1 Kofi:1990:1
Chidi:1995:1 Oluwaseun:1995:1 Tomasz:1990:2 Piotr:1985:2 Jakub:2010:2 Dawid:2010:1 Eóin:1990:1
Cian:2005:1 Ciarán:1990:1 Declan:1985:2 Kieran:1990:3 Niall:1985:2 Rory:1995:3 Fionn:2010:1 Siôn:1995:1
Dafydd:1980:1 Gareth:1970:3 Huw:1975:1 Iwan:1985:1 Rhodri:1980:1 Gethin:1990:1 Angus:1960:2
Hamish:1970:1 Alasdair:1970:1 Euan:1995:2 Fraser:1995:2 Ross:1990:3 José:1990:1 Luis:1995:1
François:1980:1 Noël:1950:1 Aled:1980:1 John-Paul:1985:1 Hugh:1940:3 Nicholas:1970:5 Patrick:1960:4
Francis:1940:3 Lawrence:1950:2 Gregory:1970:2 Roger:1950:4 Dominic:1980:3 Benedict:1990:1 Edmund:1930:2
Jeffrey:1950:2 Vincent:1960:2 Victor:1935:3 Ralph:1930:2 Clifford:1930:2 Percy:1915:2 Wilfred:1915:2
Bertie:2015:2 Elliot:2000:3 Toby:2000:3 Harvey:2005:4 Kai:2010:3 Louis:2010:4 Ollie:2015:2
Sebastian:2012:3 Elijah:2018:3 Jenson:2015:2 Zachary:2005:3 Tyler:2000:4 Brandon:1998:3
`)

var femaleGiven = strings.Fields(`
Mary:1925:9 Margaret:1935:9 Dorothy:1925:7 Joan:1930:7 Doris:1920:6 Elsie:1915:5 Elsie:2018:4
Edna:1920:4 Ethel:1915:5 Gladys:1915:4 Irene:1925:5 Hilda:1920:4 Winifred:1920:4 Florence:1915:5
Florence:2015:5 Lilian:1920:4 Violet:1920:3 Violet:2020:4 Ivy:1920:3 Ivy:2020:5 Mabel:1915:3
Vera:1930:4 Peggy:1930:2 Eileen:1935:5 Kathleen:1935:5 Betty:1935:5 Barbara:1940:6 Patricia:1945:7
Sheila:1945:5 Jean:1940:6 Joyce:1940:5 Audrey:1935:4 Maureen:1945:5 Brenda:1945:5 Shirley:1945:4
Pauline:1950:5 Valerie:1950:4 Sandra:1955:6 Christine:1955:7 Susan:1960:8 Linda:1955:7 Carol:1955:6
Janet:1955:6 Elizabeth:1950:6 Elizabeth:1990:4 Ann:1950:5 Anne:1955:5 Jennifer:1955:5 Gillian:1960:5
Lesley:1960:4 Julie:1965:7 Karen:1967:8 Tracey:1970:6 Deborah:1965:6 Alison:1968:5 Sarah:1980:8
Nicola:1975:6 Joanne:1972:6 Amanda:1972:5 Helen:1970:6 Claire:1975:6 Lisa:1975:6 Michelle:1975:6
Emma:1985:8 Rebecca:1985:7 Kelly:1985:5 Gemma:1987:5 Laura:1988:7 Rachel:1980:6 Victoria:1985:6
Catherine:1975:5 Louise:1978:5 Hayley:1988:4 Stacey:1988:4 Samantha:1985:5 Natalie:1988:5
Jessica:1995:7 Hannah:1995:7 Charlotte:1995:7 Amy:1990:7 Sophie:1995:7 Lauren:1995:7 Chloe:2000:7
Chloé:2000:1 Megan:1998:6 Bethany:1998:5 Jade:1995:5 Holly:2000:5 Georgia:2000:5 Ellie:2005:6
Emily:2000:8 Olivia:2012:9 Amelia:2012:8 Isla:2015:7 Ava:2012:7 Mia:2012:6 Isabella:2010:6 Grace:2008:6
Lily:2010:7 Poppy:2012:6 Evie:2012:6 Sophia:2015:6 Ella:2010:6 Freya:2012:6 Daisy:2010:5 Ruby:2010:6
Phoebe:2012:4 Scarlett:2012:4 Willow:2018:4 Rosie:2012:4 Matilda:2018:4 Harper:2018:3 Evelyn:2018:4
Aria:2020:4 Luna:2020:4 Maisie:2010:4 Millie:2008:5 Zoe:2000:4 Zoë:2000:2 Renée:1975:1 Siân:1980:2
Siobhán:1980:1 Niamh:1995:2 Aoife:1995:1 Róisín:1995:1 Saoirse:2005:1 Caoimhe:2005:1 Ciara:1992:2
Aisling:1990:1 Bronwen:1960:1 Cerys:1995:2 Ffion:1995:1 Carys:1990:1 Eleri:1985:1 Seren:2010:1
Catrin:1990:1 Morag:1950:1 Fiona:1970:4 Kirsty:1985:4 Eilidh:2000:1 Priya:1990:2 Aisha:2000:3
Fatima:2000:3 Maryam:2010:3 Zainab:2008:2 Ayesha:1995:2 Nadia:1985:2 Sana:1995:2 Anjali:1985:1
Sunita:1970:1 Parveen:1975:1 Nusrat:1980:1 Amara:2010:2 Chiamaka:2000:1 Adaeze:1995:1 Agnieszka:1985:2
Katarzyna:1985:2 Zuzanna:2010:1 Maja:2012:1 Amélie:2012:2 Anaïs:1995:1 Léa:2005:1 Noémie:2000:1
Hélène:1970:1 Françoise:1950:1 Jacqueline:1950:5 Josephine:1945:3 Judith:1950:4 Theresa:1955:3
Teresa:1955:2 Frances:1945:3 Eleanor:1935:3 Eleanor:2015:4 Harriet:2005:3 Abigail:2000:4
Penelope:2015:2 Pamela:1950:5 Angela:1960:6 Diane:1955:5 Denise:1962:5 Wendy:1958:5 Caroline:1968:5
Rosemary:1950:4 Marion:1940:4 Marjorie:1925:4 Beryl:1930:3 June:1935:4 Rita:1935:3 Sylvia:1935:4
Hazel:1940:3 Heather:1960:4 Julia:1965:3 Dawn:1965:4 Donna:1970:4 Kerry:1975:4 Leanne:1982:4
Danielle:1988:4 Kayleigh:1990:3 Chelsea:1993:3 Shannon:1993:3 Courtney:1995:3 Alice:2010:5
Lucy:1995:6 Katie:1992:6 Imogen:2005:3 Martha:2015:3 Esme:2015:3 Anne-Marie:1970:2 Mary-Jane:1960:1
`)
