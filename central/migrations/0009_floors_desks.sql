-- The kiosk's staff side (issue 11): floor plans, desk neighbourhoods, desks out of use,
-- private desk bookings and desk check-ins.

-- The team that sits at a desk ('' for none), and a desk out of use (broken, blocked).
ALTER TABLE desks
    ADD COLUMN neighbourhood  text NOT NULL DEFAULT '' CHECK (length(neighbourhood) <= 80),
    ADD COLUMN out_of_use     boolean NOT NULL DEFAULT false;

-- A privately booked desk never shows who sits there; a desk booking's check-in (the
-- person is at the office). Neither names anyone: the booker stays in booked_by.
ALTER TABLE bookings
    ADD COLUMN private        boolean NOT NULL DEFAULT false,
    ADD COLUMN checked_in_at  timestamptz;

-- One floor plan per floor of a site, in the floor's own units (origin top left, y down).
CREATE TABLE floors (
    site_id      text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    floor        integer NOT NULL CHECK (floor BETWEEN -20 AND 300),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    width        double precision NOT NULL CHECK (width > 0 AND width <= 100000),
    height       double precision NOT NULL CHECK (height > 0 AND height <= 100000),
    outline      jsonb NOT NULL CHECK (jsonb_typeof(outline) = 'array'),
    image_png    bytea CHECK (octet_length(image_png) <= 2097152),
    imported_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, floor)
);

-- Where each desk and room is drawn. A desk or room is on one floor (its own).
CREATE TABLE floor_desks (
    desk_id   text PRIMARY KEY REFERENCES desks (id) ON DELETE CASCADE,
    site_id   text NOT NULL,
    floor     integer NOT NULL,
    x         double precision NOT NULL CHECK (x >= 0),
    y         double precision NOT NULL CHECK (y >= 0),
    w         double precision NOT NULL CHECK (w > 0),
    h         double precision NOT NULL CHECK (h > 0),
    rotation  double precision NOT NULL DEFAULT 0 CHECK (rotation > -360 AND rotation < 360),
    FOREIGN KEY (site_id, floor) REFERENCES floors (site_id, floor) ON DELETE CASCADE
);
CREATE INDEX floor_desks_floor ON floor_desks (site_id, floor);

CREATE TABLE floor_rooms (
    room_id  text PRIMARY KEY REFERENCES rooms (id) ON DELETE CASCADE,
    site_id  text NOT NULL,
    floor    integer NOT NULL,
    x        double precision NOT NULL CHECK (x >= 0),
    y        double precision NOT NULL CHECK (y >= 0),
    w        double precision NOT NULL CHECK (w > 0),
    h        double precision NOT NULL CHECK (h > 0),
    FOREIGN KEY (site_id, floor) REFERENCES floors (site_id, floor) ON DELETE CASCADE
);
CREATE INDEX floor_rooms_floor ON floor_rooms (site_id, floor);

-- Today's desk bookings of a site (the kiosk's desk_bookings snapshot).
CREATE INDEX bookings_site_desks ON bookings (site_id, lower(during)) WHERE resource LIKE 'desk:%';
