"""The demo's news: five invented outlets reporting four invented events, written for this project.

Everything here is fiction (places, people, companies), so it can live in the repository. It is made to
show what wirewatch does with real news:

* several outlets report each event in their own words: one story per event, however many outlets;
* Meridian Wire, a news agency, files a story that two outlets re-post a little later almost word for word:
  copies of the wire report, not independent confirmation;
* The Harbour Gazette updates its breakwater report a little later (a new figure for the repairs), published
  at a new address that names the first as its canonical URL: a revision of the same article.

`publish(server)` serves the first wave; `publish_later(server)` the re-posts and the update.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.demo.outlets import FeedFormat, OutletServer

__all__ = ["LATER", "OUTLETS", "SAMPLES", "Sample", "publish", "publish_later"]

#: (slug, name, feed format): RSS, Atom and JSON Feed, whose titles name the outlets when their feeds are added.
OUTLETS: tuple[tuple[str, str, FeedFormat], ...] = (
    ("meridian-wire", "Meridian Wire", "jsonfeed"),
    ("harbour-gazette", "The Harbour Gazette", "rss"),
    ("coastal-times", "Coastal Times", "atom"),
    ("northfield-courier", "Northfield Courier", "rss"),
    ("valley-herald", "Valley Herald", "atom"),
)


@dataclass(frozen=True)
class Sample:
    """One article of the demo: which outlet, when (minutes before the demo starts), what."""

    outlet: str
    slug: str
    minutes_ago: int
    title: str
    author: str
    text: str
    canonical_slug: str | None = None


_BREAKWATER_GAZETTE = """
The northern breakwater of Port Elwin gave way to the storm surge shortly after two o'clock on Tuesday
morning, and by dawn seawater stood knee-deep in the fish market and in two warehouses on Quay Street.

Maren Tolvik, the director of the Port Elwin Harbour Authority, said the breach was about forty metres wide.
"The wall has held back every winter storm since 1962. Last night the sea simply went through it," she told
the Gazette at the harbour office, where staff were carrying files to the upper floor.

Engineers from the Elwin Water Board began inspecting the damage at first light. Ms Tolvik said repairs would
take several months and cost at least six million crowns, money the authority does not have.

The fishing fleet has been told to move from the inner harbour to the southern basin until the breakwater is
declared safe. Several skippers said the order came too late: at least three trawlers were damaged against
the quay during the night.

The storm, the third to hit the coast this winter, also cut power to some four thousand homes in Port Elwin
and the villages along the estuary.
"""

_BREAKWATER_GAZETTE_UPDATED = """
The northern breakwater of Port Elwin gave way to the storm surge shortly after two o'clock on Tuesday
morning, and by dawn seawater stood knee-deep in the fish market and in two warehouses on Quay Street.

Maren Tolvik, the director of the Port Elwin Harbour Authority, said the breach was about forty metres wide.
"The wall has held back every winter storm since 1962. Last night the sea simply went through it," she told
the Gazette at the harbour office, where staff were carrying files to the upper floor.

Engineers from the Elwin Water Board finished their first inspection on Tuesday afternoon. Ms Tolvik now puts
the cost of the repairs at fourteen million crowns, more than twice the first estimate, because the
foundations of the wall were undermined along a further sixty metres.

The fishing fleet has been told to move from the inner harbour to the southern basin until the breakwater is
declared safe. Several skippers said the order came too late: at least three trawlers were damaged against
the quay during the night.

The storm, the third to hit the coast this winter, also cut power to some four thousand homes in Port Elwin
and the villages along the estuary. The regional government said on Tuesday evening that it would meet the
harbour authority on Thursday to discuss emergency funding.
"""

_BREAKWATER_COASTAL = """
Port Elwin woke on Tuesday to a flooded waterfront after the storm surge tore a gap in the town's northern
breakwater, the stone wall that has sheltered its harbour for more than sixty years.

Water poured through the breach overnight and flooded the fish market, two warehouses and the lower part of
Quay Street. Nobody was hurt, the coastguard said, but at least three fishing boats were damaged when they
were thrown against the quay.

"We are looking at months of work," said Maren Tolvik, who heads the Port Elwin Harbour Authority. She
estimated the cost of the repairs at six million crowns and said the authority would ask the regional
government for help.

Inspectors from the Elwin Water Board spent the morning on the damaged wall. Until they declare it safe,
boats must moor in the southern basin, which fishermen say is too small for the whole fleet.

Tuesday's storm was the third this winter. Around four thousand households along the estuary lost power for
several hours.
"""

_BREAKWATER_NORTHFIELD = """
A storm surge broke through the breakwater protecting the harbour of Port Elwin early on Tuesday, flooding the
town's fish market and warehouses and leaving the fishing fleet without a safe mooring.

The harbour authority said a stretch of about forty metres of the northern wall collapsed during the night.
Its director, Maren Tolvik, said the Elwin Water Board would assess whether the rest of the structure was
sound before any boats were allowed back into the inner harbour.

Fishermen in Port Elwin have warned for years that the breakwater, built in 1962, needed strengthening. "We
told them after every storm," said Anders Holm, who chairs the local fishermen's association. "Now we have
three damaged boats and nowhere to land the catch."

The regional government has not said whether it will pay for the repairs, which the harbour authority
expects to cost millions of crowns.
"""

_RECALL_WIRE = """
Lindqvist Robotics is recalling about 40,000 of its Courier-3 delivery drones after a series of battery fires,
the company said on Wednesday, in the largest recall in the short history of drone delivery.

The Stockholm-based company said a fault in the battery management software could let cells overheat while
charging. Eleven fires have been reported since October, two of them in warehouses, it said. No one has been
injured.

"Safety comes before everything else. We are grounding every affected drone until it has been repaired," chief
executive Helena Ostrova said in a statement. Owners will receive a software update and a replacement battery
pack free of charge, the company said.

The Courier-3 is used by retailers and parcel services in nine countries. Analysts said the recall could cost
Lindqvist Robotics more than 30 million euros and would delay the launch of its next model, planned for the
spring.

Shares in Lindqvist Robotics fell 8 percent in Stockholm after the announcement.
"""

_RECALL_REPOST_HERALD = """
Lindqvist Robotics is recalling about 40,000 of its Courier-3 delivery drones after a series of battery fires,
the company said on Wednesday, in the largest recall in the short history of drone delivery.

The Stockholm-based company said a fault in the battery management software could let cells overheat while
charging. Eleven fires have been reported since October, two of them in warehouses, it said. No one has been
injured.

"Safety comes before everything else. We are grounding every affected drone until it has been repaired," chief
executive Helena Ostrova said in a statement. Owners will receive a software update and a replacement battery
pack free of charge, the company said.

The Courier-3 is used by retailers and parcel services in nine countries. Analysts said the recall could cost
Lindqvist Robotics more than 30 million euros and would delay the launch of its next model, planned for the
spring.

Reporting by Meridian Wire.
"""

_RECALL_REPOST_NORTHFIELD = """
Lindqvist Robotics is recalling about 40,000 of its Courier-3 delivery drones after a series of battery fires,
the company said on Wednesday, in the largest recall in the short history of drone delivery.

The Stockholm-based company said a fault in the battery management software could let cells overheat while
charging. Eleven fires have been reported since October, two of them in warehouses, it said. No one has been
injured.

"Safety comes before everything else. We are grounding every affected drone until it has been repaired," chief
executive Helena Ostrova said in a statement. Owners will receive a software update and a replacement battery
pack free of charge, the company said.

The Courier-3 is used by retailers and parcel services in nine countries. Analysts said the recall could cost
Lindqvist Robotics more than 30 million euros and would delay the launch of its next model.

(Meridian Wire)
"""

_RECALL_COASTAL = """
Delivery drones made by Lindqvist Robotics are being pulled out of service across Europe after battery fires
in warehouses and charging depots, in a recall the company puts at about 40,000 machines.

Helena Ostrova, the chief executive of the Swedish manufacturer, said on Wednesday that a software fault could
let the batteries of its Courier-3 drones overheat on the charger. The company knows of eleven fires since
October.

For parcel firms that have built their last-mile networks around the Courier-3, the recall is a headache.
One logistics manager in Port Elwin, who asked not to be named, said his company would go back to vans for
at least a month.

Lindqvist Robotics promised owners a free software update and new battery packs. Investors were less patient:
its shares dropped 8 percent in Stockholm trading.
"""

_STRIKE_NORTHFIELD = """
Miners at the Kessel Ridge copper mine have entered a second week on strike, with their union and the mine's
owner, Corvane Minerals, still far apart on pay and on the safety of the deep shafts.

About 1,200 workers walked out last Monday after a rockfall in the lower galleries injured two men. The
Kessel Ridge Miners' Union wants a pay rise of 9 percent and an independent inspection of the shafts before
anyone goes back underground.

"Nobody goes down again until an inspector we trust has been down first," said union leader Jonas Reyes
outside the mine gate on Monday.

Corvane Minerals has offered 4 percent and says its own engineers have already checked the galleries. The
company warned that every week of the strike costs it about 3,000 tonnes of copper.

Shops in the town of Kessel Ridge say trade has fallen by half since the strike began.
"""

_STRIKE_HERALD = """
The strike at the Kessel Ridge copper mine dragged into its second week on Monday as talks between Corvane
Minerals and the miners' union broke up without agreement.

Jonas Reyes, who leads the Kessel Ridge Miners' Union, said the company had refused an independent inspection
of the deep shafts, where a rockfall injured two miners this month. "They want us back underground on their
word alone," Mr Reyes said.

Corvane Minerals said in a statement that its engineers had found the galleries safe and that its offer of a
4 percent pay rise was "fair and final". The union is asking for 9 percent.

Around 1,200 miners are on strike. The mine produces roughly a tenth of the region's copper.
"""

_STRIKE_WIRE = """
Talks to end the strike at Corvane Minerals' Kessel Ridge copper mine collapsed on Monday, leaving about
1,200 miners out of work for a second week.

The Kessel Ridge Miners' Union is demanding a 9 percent pay rise and an independent safety inspection after
a rockfall in the mine's lower galleries injured two workers. Corvane Minerals has offered 4 percent.

Union leader Jonas Reyes said the miners would stay out until an inspector they trusted had examined the
shafts. The company said its own engineers had already done so.

Corvane Minerals, which is listed in London, said the strike was costing it about 3,000 tonnes of copper a
week.
"""

_TRAM_HERALD = """
The city council of Brackwater voted on Thursday night to build the city's first tram line, a 12-kilometre
route from the railway station to the university campus on Hollin Hill.

Twenty-nine councillors voted in favour and eighteen against after a debate that lasted more than five hours.
The line is expected to cost 410 million crowns and to open in 2031.

Mayor Ingrid Sandell called the vote "the most important decision this council has taken in a generation".
Opponents, led by councillor Piet Vermeer, said the money would be better spent on buses and warned that the
costs would rise.

Construction on Station Road is due to start next autumn.
"""

_TRAM_GAZETTE = """
Brackwater will get a tram. After five hours of debate, the city council approved on Thursday a 12-kilometre
line linking the railway station with the university on Hollin Hill, by 29 votes to 18.

Mayor Ingrid Sandell, who has championed the project since her election, said the line would carry 40,000
passengers a day. Councillor Piet Vermeer, its fiercest critic, said the estimate of 410 million crowns was
"a fantasy" and that the city would end up paying twice as much.

The first trams are expected to run in 2031. Traders on Station Road, where work begins next year, are
worried about years of roadworks outside their shops.
"""

#: The first wave, published when the demo starts.
SAMPLES: tuple[Sample, ...] = (
    Sample("harbour-gazette", "port-elwin-breakwater-breached", 95, "Storm surge breaches Port Elwin breakwater",
           "Lena Marsh", _BREAKWATER_GAZETTE),
    Sample("coastal-times", "flooded-waterfront-port-elwin", 80,
           "Port Elwin counts the cost after the sea breaks through its breakwater", "Tomas Brandt",
           _BREAKWATER_COASTAL),
    Sample("northfield-courier", "port-elwin-harbour-flooded", 70,
           "Fishing fleet stranded as Port Elwin breakwater collapses", "Nadia Olsen", _BREAKWATER_NORTHFIELD),
    Sample("meridian-wire", "lindqvist-recalls-courier-drones", 60,
           "Lindqvist Robotics recalls 40,000 delivery drones after battery fires", "Meridian Wire staff",
           _RECALL_WIRE),
    Sample("coastal-times", "drones-grounded-battery-fires", 45,
           "Parcel firms scramble as Courier-3 drones are grounded", "Tomas Brandt", _RECALL_COASTAL),
    Sample("northfield-courier", "kessel-ridge-strike-second-week", 40,
           "Kessel Ridge miners enter second week of strike", "Nadia Olsen", _STRIKE_NORTHFIELD),
    Sample("valley-herald", "kessel-ridge-talks-fail", 35,
           "Talks fail as Kessel Ridge strike drags on", "Owen Pryce", _STRIKE_HERALD),
    Sample("meridian-wire", "corvane-strike-talks-collapse", 30,
           "Corvane Minerals strike talks collapse", "Meridian Wire staff", _STRIKE_WIRE),
    Sample("valley-herald", "brackwater-tram-approved", 25, "Brackwater council approves first tram line",
           "Owen Pryce", _TRAM_HERALD),
    Sample("harbour-gazette", "brackwater-votes-for-trams", 20, "Brackwater votes for trams, 29 to 18",
           "Lena Marsh", _TRAM_GAZETTE),
)

#: A little later: two outlets re-post the wire story (copies of it, stored after it), and the Gazette updates
#: its breakwater report (a revision of the same article).
LATER: tuple[Sample, ...] = (
    Sample("valley-herald", "drone-maker-recall", 0,
           "Lindqvist Robotics recalls 40,000 delivery drones after battery fires", "Meridian Wire",
           _RECALL_REPOST_HERALD),
    Sample("harbour-gazette", "port-elwin-breakwater-breached-update", 0,
           "Port Elwin breakwater repairs to cost 14 million crowns", "Lena Marsh", _BREAKWATER_GAZETTE_UPDATED,
           canonical_slug="port-elwin-breakwater-breached"),
    Sample("northfield-courier", "drone-recall-wire", 0,
           "Drone maker Lindqvist recalls 40,000 Courier-3 machines", "Meridian Wire", _RECALL_REPOST_NORTHFIELD),
)


def publish(server: OutletServer, *, now: datetime | None = None) -> list[str]:
    """Create the five outlets on `server` and publish the first wave; returns their feed URLs."""
    start = now or datetime.now(UTC)
    feeds = []
    for slug, name, feed_format in OUTLETS:
        outlet = server.add_outlet(slug, name, feed_format, tracking_query="")
        feeds.append(outlet.feed_url)
    _add(server, SAMPLES, start)
    return feeds


def publish_later(server: OutletServer, *, now: datetime | None = None) -> None:
    """Publish the update and the late re-post."""
    _add(server, LATER, now or datetime.now(UTC))


def _add(server: OutletServer, samples: tuple[Sample, ...], now: datetime) -> None:
    for sample in samples:
        published = now.replace(microsecond=0) - timedelta(minutes=sample.minutes_ago)
        server.outlet(sample.outlet).add_article(sample.slug, sample.title, _unwrapped(sample.text), published,
                                                 sample.author, canonical_slug=sample.canonical_slug)


def _unwrapped(text: str) -> str:
    """Paragraphs (blank-line separated, wrapped here for reading) each on one line, as the outlet server wants."""
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in text.strip().split("\n\n"))
