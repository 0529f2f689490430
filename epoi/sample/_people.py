"""Names, organisations, California addresses, licences and birth dates.

Everything here is invented; the lists only give the data the spread of real registers
(common and rare names, hyphenated and multi-word surnames, suffixes, ZIP+4) so that the
matching stages meet the cases they will meet in production.  Only characters of the X12
basic character set are used (no ``#``, no lower case)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from ._records import Address, Organisation, Person

LAST_NAMES = (
    # Hispanic
    "GARCIA RODRIGUEZ MARTINEZ HERNANDEZ LOPEZ GONZALEZ PEREZ SANCHEZ RAMIREZ TORRES FLORES "
    "RIVERA GOMEZ DIAZ REYES MORALES CRUZ ORTIZ GUTIERREZ CHAVEZ RAMOS RUIZ ALVAREZ MENDOZA "
    "CASTILLO JIMENEZ MORENO ROMERO HERRERA MEDINA AGUILAR VARGAS GUZMAN SALAZAR CONTRERAS "
    "ESPINOZA VALENZUELA OROZCO CERVANTES NAVARRO SANDOVAL ZAMORA "
    # Asian
    "NGUYEN TRAN LE PHAM HUYNH VO KIM LEE PARK CHOI CHEN WANG LI ZHANG LIU YANG HUANG WU ZHOU "
    "WONG CHAN LAM HO SINGH PATEL SHAH GUPTA KUMAR TANAKA YAMAMOTO NAKAMURA SATO SANTOS REYES "
    "DELA ROSA BAUTISTA MENDOZA AQUINO "
    # other
    "SMITH JOHNSON WILLIAMS BROWN JONES MILLER DAVIS WILSON ANDERSON TAYLOR THOMAS MOORE "
    "JACKSON MARTIN THOMPSON WHITE HARRIS CLARK LEWIS ROBINSON WALKER YOUNG ALLEN KING WRIGHT "
    "SCOTT HILL GREEN ADAMS BAKER NELSON CARTER MITCHELL ROBERTS PHILLIPS CAMPBELL PARKER "
    "EVANS EDWARDS COLLINS STEWART MORRIS MURPHY COOK ROGERS REED BELL COOPER WARD PETERSON "
    "GRAY HUGHES FOSTER BRYANT RUSSELL GRIFFIN HAYES MYERS FORD HAMILTON GRAHAM SULLIVAN "
    "WALLACE WOODS COLE WEST JORDAN OWENS REYNOLDS FISHER ELLIS HARRISON GIBSON MCDONALD "
    "MARSHALL KOWALSKI NOVAK MULLER SCHMIDT ROSSI RUSSO IVANOV PETROV COHEN LEVY KHAN AHMED "
    "HASSAN ALI NAZARIAN PETROSYAN HAKOBYAN SARKISSIAN OKAFOR ADEYEMI MENSAH"
).split() + [
    "O'BRIEN", "O'CONNOR", "D'AMATO", "DE LA CRUZ", "DE LEON", "VAN DYKE", "ST JOHN",
    "GARCIA-LOPEZ", "SMITH-JONES", "HERNANDEZ-RUIZ", "NGUYEN-TRAN", "MARTINEZ-SOTO",
    "MACARTHUR", "MCALLISTER", "DEL RIO", "LA ROSA",
]

FIRST_NAMES = (
    "MARIA JOSE JUAN LUIS CARLOS JESUS ANA ROSA MIGUEL ANTONIO FRANCISCO ALEJANDRO GUADALUPE "
    "JORGE ALEJANDRA FERNANDO RICARDO SOFIA VALERIA XIMENA DIEGO EDUARDO JAVIER YESENIA "
    "ARMANDO VERONICA ROBERTO LETICIA RAUL BEATRIZ "
    "MINH LINH THANH HUONG TUAN DUC HOA JI-WOO MIN-JUN SEO-YEON HYUN WEI JING XIN YING HAO "
    "MEI LING PRIYA RAVI ANIL SUNITA ARJUN DEEPA HIROSHI YUKI KENJI AIKO RIZAL MARICEL "
    "JAMES JOHN ROBERT MICHAEL WILLIAM DAVID RICHARD JOSEPH THOMAS CHARLES CHRISTOPHER DANIEL "
    "MATTHEW ANTHONY MARK DONALD STEVEN PAUL ANDREW JOSHUA KENNETH KEVIN BRIAN GEORGE TIMOTHY "
    "MARY PATRICIA JENNIFER LINDA ELIZABETH BARBARA SUSAN JESSICA SARAH KAREN LISA NANCY "
    "BETTY MARGARET SANDRA ASHLEY KIMBERLY EMILY DONNA MICHELLE CAROL AMANDA MELISSA DEBORAH "
    "STEPHANIE REBECCA SHARON LAURA CYNTHIA KATHLEEN AMY ANGELA SHIRLEY ANNA BRENDA EMMA "
    "OLIVIA AVA ISABELLA MIA CHARLOTTE AMELIA HARPER EVELYN ABIGAIL LIAM NOAH OLIVER ELIJAH "
    "LUCAS MASON LOGAN ETHAN AIDEN JACKSON SEBASTIAN MATEO ISAIAH JAYDEN DESHAWN TYRONE "
    "LATOYA KEISHA IMANI JAMAL DARNELL ARAM ANI TIGRAN NAREK GRIGOR AHMED FATIMA OMAR LAYLA "
    "YUSUF ZAINAB IVAN OLGA DMITRI SVETLANA"
).split() + ["MARY ANN", "JEAN-PAUL", "ANNE-MARIE", "JO ANN", "LUZ MARIA"]

SUFFIXES = ("JR", "JR", "SR", "II", "III", "IV")

STREETS = (
    "MAIN ST", "OAK AVE", "PINE ST", "MAPLE AVE", "CEDAR ST", "ELM ST", "WASHINGTON BLVD",
    "LINCOLN AVE", "JEFFERSON ST", "MADISON AVE", "FIRST ST", "SECOND ST", "THIRD AVE",
    "MISSION ST", "EL CAMINO REAL", "SUNSET BLVD", "VENTURA BLVD", "WILSHIRE BLVD",
    "SANTA MONICA BLVD", "CAPITOL MALL", "J ST", "BROADWAY", "MARKET ST", "VALENCIA ST",
    "CESAR CHAVEZ AVE", "MARTIN LUTHER KING JR BLVD", "PACIFIC COAST HWY", "OCEAN AVE",
    "LAUREL CANYON BLVD", "FOOTHILL BLVD", "ARROW HWY", "VALLEY BLVD", "GARVEY AVE",
    "ATLANTIC BLVD", "BELLFLOWER BLVD", "HARBOR BLVD", "BEACH BLVD", "BROOKHURST ST",
    "EUCLID ST", "UNIVERSITY AVE", "COLLEGE AVE", "SHAW AVE", "BLACKSTONE AVE",
    "STOCKDALE HWY", "MING AVE", "FLORIN RD", "FRUITRIDGE RD", "STOCKTON BLVD",
    "SAN PABLO AVE", "TELEGRAPH AVE", "FOOTHILL EXPY", "STEVENS CREEK BLVD", "ALUM ROCK AVE",
    "STORY RD", "TULLY RD", "GENESEE AVE", "CLAIREMONT MESA BLVD", "MIRA MESA BLVD",
    "IMPERIAL AVE", "PALM AVE", "SIERRA VISTA DR", "VISTA DEL MAR", "CAMINO DEL RIO S",
    "LA CIENEGA BLVD", "REDWOOD HWY", "MOUNTAIN VIEW DR", "CANYON CREEK RD", "WILLOW LN",
    "ORCHARD CT", "VINEYARD WAY", "ALMOND DR", "PEPPERTREE LN", "JACARANDA PL",
)
UNITS = ("APT", "APT", "APT", "UNIT", "STE", "SPC")

# City -> a few of its real ZIP codes.
CITIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("LOS ANGELES", ("90001", "90012", "90026", "90045", "90019", "90065")),
    ("SAN DIEGO", ("92101", "92103", "92117", "92126")),
    ("SAN JOSE", ("95112", "95123", "95125", "95127")),
    ("SAN FRANCISCO", ("94102", "94110", "94117", "94122")),
    ("FRESNO", ("93701", "93704", "93722", "93727")),
    ("SACRAMENTO", ("95814", "95816", "95822", "95831")),
    ("LONG BEACH", ("90802", "90804", "90815")),
    ("OAKLAND", ("94601", "94606", "94611")),
    ("BAKERSFIELD", ("93301", "93309", "93312")),
    ("ANAHEIM", ("92801", "92804", "92805")),
    ("SANTA ANA", ("92701", "92703", "92704")),
    ("RIVERSIDE", ("92501", "92503", "92506")),
    ("STOCKTON", ("95202", "95207", "95210")),
    ("IRVINE", ("92602", "92612", "92620")),
    ("CHULA VISTA", ("91910", "91911", "91913")),
    ("FREMONT", ("94536", "94538", "94539")),
    ("SAN BERNARDINO", ("92401", "92404", "92407")),
    ("MODESTO", ("95350", "95354", "95355")),
    ("FONTANA", ("92335", "92336")),
    ("OXNARD", ("93030", "93033", "93035")),
    ("MORENO VALLEY", ("92553", "92555", "92557")),
    ("HUNTINGTON BEACH", ("92646", "92647", "92648")),
    ("GLENDALE", ("91201", "91202", "91205")),
    ("SANTA CLARITA", ("91350", "91351", "91355")),
    ("OCEANSIDE", ("92054", "92056", "92057")),
    ("GARDEN GROVE", ("92840", "92843", "92844")),
    ("SANTA ROSA", ("95401", "95403", "95404")),
    ("ONTARIO", ("91761", "91762", "91764")),
    ("ELK GROVE", ("95624", "95757", "95758")),
    ("CORONA", ("92879", "92880", "92882")),
    ("LANCASTER", ("93534", "93535", "93536")),
    ("PALMDALE", ("93550", "93551", "93552")),
    ("SALINAS", ("93901", "93905", "93906")),
    ("HAYWARD", ("94541", "94542", "94544")),
    ("PASADENA", ("91101", "91104", "91106")),
    ("SUNNYVALE", ("94085", "94086", "94087")),
    ("TORRANCE", ("90501", "90503", "90505")),
    ("BERKELEY", ("94702", "94703", "94705")),
    ("VISALIA", ("93277", "93291", "93292")),
    ("REDDING", ("96001", "96002", "96003")),
    ("CHICO", ("95926", "95928")),
    ("EUREKA", ("95501", "95503")),
    ("SANTA BARBARA", ("93101", "93103", "93105")),
    ("SAN LUIS OBISPO", ("93401", "93405")),
    ("EL CENTRO", ("92243",)),
    ("SOUTH LAKE TAHOE", ("96150",)),
)
# Big cities get more people.
_CITY_WEIGHTS = [12, 6, 5, 4, 3, 3, 3, 3, 3] + [1] * (len(CITIES) - 9)

_ORG_PLACES = (
    "PACIFIC", "GOLDEN STATE", "SIERRA", "BAY AREA", "CENTRAL VALLEY", "INLAND EMPIRE",
    "COASTAL", "REDWOOD", "MISSION", "SUNSET", "DELTA", "TRI-VALLEY", "SAN JOAQUIN", "MOJAVE",
    "SHASTA", "CAPITOL", "HARBOR", "SUMMIT", "NGUYEN BROS", "GARCIA & SONS", "PATEL",
    "KIM FAMILY", "LOPEZ", "EAST BAY", "NORCAL", "SOCAL", "VALLEY", "PENINSULA", "DESERT",
)
_ORG_TRADES = (
    "TRUCKING", "PLUMBING", "LANDSCAPING", "LOGISTICS", "ELECTRIC", "CONSTRUCTION",
    "DELIVERY", "ROOFING", "FARMS", "HVAC SERVICES", "MOVING", "CATERING", "AUTO REPAIR",
    "PEST CONTROL", "COURIER", "TOWING", "CONCRETE", "SOLAR", "POOL SERVICE", "FREIGHT",
)
_FLEET_TRADES = ("FLEET SERVICES", "RENTALS", "TRANSPORT", "TRANSIT", "DISTRIBUTION", "LEASING")
_ORG_FORMS = ("LLC", "LLC", "INC", "INC", "CORP", "CO", "LP")


def address(rng: random.Random) -> Address:
    city, zips = rng.choices(CITIES, weights=_CITY_WEIGHTS)[0]
    zip_code = rng.choice(zips)
    if rng.random() < 0.35:  # ZIP+4, written without the dash as the guide shows
        zip_code += f"{rng.randint(1, 9999):04d}"
    line1 = f"{rng.randint(1, 29999)} {rng.choice(STREETS)}"
    line2 = f"{rng.choice(UNITS)} {rng.randint(1, 420)}" if rng.random() < 0.22 else ""
    return Address(line1, line2, city, "CA", zip_code)


def business_address(rng: random.Random) -> Address:
    a = address(rng)
    if not a.line2 and rng.random() < 0.4:
        return Address(a.line1, f"STE {rng.randint(100, 900)}", a.city, a.state, a.zip)
    return a


def ca_licence(rng: random.Random) -> str:
    """California driver licence: one letter and seven digits."""
    return f"{rng.choice('ABCDEFGHIJKLMNOPQRSTUVWXYZ')}{rng.randint(0, 9_999_999):07d}"


def birth_date(rng: random.Random, today: date) -> date:
    age_days = int(rng.triangular(16.2, 92, 38) * 365.25)
    return today - timedelta(days=age_days)


def person(rng: random.Random, today: date, *, last: str | None = None) -> Person:
    middle = rng.choice("ABCDEFGHJKLMNPRSTVW") if rng.random() < 0.55 else ""
    suffix = rng.choice(SUFFIXES) if rng.random() < 0.04 else ""
    # Licence and birth date are optional in the guide; most carriers send both.
    dl = ca_licence(rng) if rng.random() < 0.95 else ""
    dob = birth_date(rng, today) if rng.random() < 0.97 else None
    return Person(last or rng.choice(LAST_NAMES), rng.choice(FIRST_NAMES), middle, suffix, dl, dob)


def fein(rng: random.Random) -> str:
    # The first two digits are an IRS campus prefix; 00 and 07-09 are never issued.
    prefix = rng.choice((10, 20, 27, 33, 45, 46, 47, 68, 77, 81, 84, 93, 94, 95))
    return f"{prefix}{rng.randint(0, 9_999_999):07d}"


def organisation(rng: random.Random, *, fleet: bool = False) -> Organisation:
    trade = rng.choice(_FLEET_TRADES if fleet else _ORG_TRADES)
    return Organisation(f"{rng.choice(_ORG_PLACES)} {trade} {rng.choice(_ORG_FORMS)}", fein(rng))
