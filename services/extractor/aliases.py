"""The entity alias table: keys learned across articles stay consistent.

Within one article the extractor already resolves short mentions to the full
name ("Putin" -> "person:vladimir putin"). An article that says only "Putin"
cannot, and would file him under "person:putin". The table remembers, in Redis,
which full key each short key stood for in the articles that gave both, and
rewrites later articles' keys to it.

What is learned (from one article's entity and the other keys it was written as):

* only aliases of the same type: the small model tags a surname as a place once
  the person is known ("Soleimani" GPE), but "gpe:jordan" must never become a
  basketball player;
* for people, only a surname or a tail of the full name ("putin", "bashar assad"),
  or the full name without its generational suffix ("anthony harmon" for "anthony
  harmon jr."), never a first name ("qassem" is too many people);
* organisations and the other types: any alias (acronym <-> long name, a name
  without its "news agency" tail).

An alias used for two different entities goes to the one more articles used it
for (ties keep the earlier): one vote per article, so it settles and never
flips back and forth. Resolution follows at most MAX_HOPS aliases and never
loops. Owner of the keys: this module; the extractor writes, the API reads.

Two rules need to know about names (services.extractor.resolve: `match_form`,
`retypable`, `specific`, which the in-article resolution uses too):

* type repair: every article votes, per name, for the type it gave it (its
  entities' keys and learnable aliases: "person:qassem soleimani" votes person
  for "qassem soleimani" and for "soleimani"). A key whose name earlier articles
  gave another type far more often is filed under that type's key
  ("gpe:soleimani" -> "person:soleimani" -> "person:qassem soleimani"): a name
  of two or more words by majority; one word with 2 articles and twice its own
  type's, a place to a person with 3 and three times, to a person only when
  one person has that surname ("soleimani", never "jackson"), and a bare
  person name no earlier article called a person to the place earlier ones
  named; a place only ever becomes a person or another kind of place. Never
  when `retypable` says the name is always what the model said (countries and
  US states: "Jordan" the country never becomes a person, nor the reverse);
* first type: a one-word name never filed under this article's type, that
  earlier articles gave one other type at least as often, is filed under that
  type's key ("org:conyers" after "person:conyers"): ties keep the type first
  filed. Not recorded as an alias (each article asks again, so the votes
  decide); never a place to another type, a word written in lower case or a
  first name;
* spelling variants: a key new to the table whose match form (`match_form`:
  "org:revolutionary guard" for "the Revolutionary Guards", "person:ivan lopez"
  for "Ivan A. Lopez") an earlier key or alias was written in is filed under that
  key, so the first spelling of an entity stays its key.

Both are recorded as aliases with a vote, like learned ones. A
generic name (`specific` is false: "org:sheriff's office", "org:state police")
is neither learned as an alias nor matched by its form: every county has one. Every alias points
at a key that is no alias itself when written, so the table cannot loop.
`aliases_with_counts` lists what was learned for a key, with the articles that
voted for each alias.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from services.common.keys import Keys
from services.common.messages import Entity
from services.common.redis import Redis
from services.extractor.entities import is_title
from services.extractor.lookup import (
    INDEX_SEPARATOR,
    MAX_HOPS,
    AmbiguousName,
    Candidate,
    Lookup,
    canonical_key,
    index_members,
    lookup,
    probe_keys,
    surname_probe,
)
from services.extractor.resolve import INSTITUTION_WORDS, institutional, match_form, person_form, retypable, specific

#: Generational suffixes, which end a person's name and are no surname (also read by the script below).
_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})
#: Name index members read per prefix search: a short prefix ('s') sees the first this many names in order.
SEARCH_SCAN = 300

# A name's type tally as one HASH field: 'person=2;gpe=1', the types in the order first voted (ties keep the
# type first filed), read as the flat {type, n, ...} list HGETALL gives. The scripts below read and write it,
# with the two votes that are no type.
_TALLY_FORMAT = """
-- A vote in a name's type tally that is no type: an article wrote the word in lower case too ("Gang" beside
-- "a gang"), so it is no surname to file under a person.
local PLAIN = 'plain'
-- A vote that is no type either: the word is the first name of a person's full name.
local GIVEN = 'given'
local function parsed_tally(raw)
  local flat = {}
  for t, n in string.gmatch(raw or '', '([^=;]+)=(%d+)') do
    flat[#flat + 1] = t
    flat[#flat + 1] = n
  end
  return flat
end
local function encoded_tally(flat)
  local parts = {}
  for j = 1, #flat, 2 do parts[#parts + 1] = flat[j] .. '=' .. flat[j + 1] end
  return table.concat(parts, ';')
end
"""

#: The filed ZSET's score packs two integers: the hour an entity was last filed (unix hours) times FILED_SPAN,
#: plus the articles filed under it (capped below FILED_SPAN). One member per entity ranks an ambiguous name's
#: candidates and finds the entities no article named within the retention (a second ZSET would cost
#: ~80 B per entity more). Scores stay below 2**53, exact in a double.
FILED_SPAN = 2**28
_FILED_FORMAT = f"""
local FILED_SPAN = {FILED_SPAN}
local function filed_count(score)
  if not score then return 0 end
  return tonumber(score) % FILED_SPAN
end
-- formatted as an integer: Lua would print a number this large in %.14g and round it
local function filed_score(last_hour, count)
  return string.format('%.0f', last_hour * FILED_SPAN + count)
end
"""


def filed_articles(score: float | None) -> int:
    """The articles filed under an entity, from its filed score (0 when it has none)."""
    return int(score) % FILED_SPAN if score is not None else 0


# KEYS[1] aliases HASH, KEYS[2] names HASH, KEYS[3] forms HASH, KEYS[4] filed ZSET, KEYS[5] name index ZSET.
# ARGV[1] votes key prefix, ARGV[2] known-as key prefix, ARGV[3] type-tally bucket prefix,
# ARGV[4] JSON [[key, name, [learnable aliases], [match forms], [[type, name, retypable] votes], retypable,
# [name index members], [person tails], the article's person bearing a one-word name as surname,
# [person forms of a key of another type], the article writes the name's last word in lower case too], ...],
# ARGV[5] max hops, ARGV[6] the hour now (unix hours: the hour each resolved key was last filed).
# Returns JSON [[resolved key, display name], ...] in the order given. One script: an article's
# lookups and what it teaches are one step, so two extractors never half-learn an alias.
_RESOLVE_AND_LEARN = _TALLY_FORMAT + _FILED_FORMAT + """
local INSTITUTION, SUFFIXES = {}, {}
for _, word in ipairs(cjson.decode([=[""" + json.dumps(sorted(INSTITUTION_WORDS)) + """]=])) do
  INSTITUTION[word] = true
end
for _, word in ipairs(cjson.decode([=[""" + json.dumps(sorted(_SUFFIXES)) + """]=])) do SUFFIXES[word] = true end
local aliases, names, forms, filed, index = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local votes_prefix, known_prefix, tallies_prefix = ARGV[1], ARGV[2], ARGV[3]
local items = cjson.decode(ARGV[4])
local max_hops = tonumber(ARGV[5])
local hour = tonumber(ARGV[6])
-- A name's type tally is one field of one of 4,096 bucket HASHes (Keys.entity_type_tally: the first three hex
-- digits of the name's SHA-1). Both are remembered for the rest of the script: the rules read one name's tally
-- many times per article.
local buckets, tallies = {}, {}
local function tally_bucket(bare)
  local bucket = buckets[bare]
  if not bucket then
    bucket = tallies_prefix .. string.sub(redis.sha1hex(bare), 1, 3)
    buckets[bare] = bucket
  end
  return bucket
end
local function type_tally(bare)
  local flat = tallies[bare]
  if not flat then
    flat = parsed_tally(redis.call('HGET', tally_bucket(bare), bare))
    tallies[bare] = flat
  end
  return flat
end
local function type_count(bare, kind)
  local tally = type_tally(bare)
  for j = 1, #tally, 2 do
    if tally[j] == kind then return tonumber(tally[j + 1]) end
  end
  return 0
end
-- one article's vote for `kind` as the type of the name `bare`
local function vote_type(bare, kind)
  local flat, found = {}, false
  for j, v in ipairs(type_tally(bare)) do flat[j] = v end
  for j = 1, #flat, 2 do
    if flat[j] == kind then flat[j + 1], found = tostring(tonumber(flat[j + 1]) + 1), true end
  end
  if not found then flat[#flat + 1], flat[#flat + 2] = kind, '1' end
  tallies[bare] = flat
  redis.call('HSET', tally_bucket(bare), bare, encoded_tally(flat))
end
local function resolve(key)
  for _ = 1, max_hops do
    local nxt = redis.call('HGET', aliases, key)
    if not nxt then return key, true end
    key = nxt
  end
  return key, redis.call('HEXISTS', aliases, key) == 0
end
local function is_alias(key) return redis.call('HEXISTS', aliases, key) == 1 end
-- file `alias` under `target` (a key that is no alias) with this article's vote
local function point(alias, target)
  redis.call('HINCRBY', votes_prefix .. alias, target, 1)
  local current = redis.call('HGET', aliases, alias)
  if current == target then return end
  redis.call('HSET', aliases, alias, target)
  if current then redis.call('SREM', known_prefix .. current, alias) end
  redis.call('SADD', known_prefix .. target, alias)
end
-- The type a key kind:bare is to be filed under by the type votes of the articles so far, or nil.
-- Evidence needed: a name of two or more words goes to the type more articles gave it
-- ("org:jason varitek" -> "person:jason varitek"); one word needs 2 articles and twice as many as
-- its own type, a place becomes a person only with 3 and three times, a bare person name no
-- earlier article called a person becomes the place earlier articles named ("person:wasilla");
-- a place never becomes an organisation ("org:raleigh" for the city).
local function repaired_type(kind, bare)
  local tally = type_tally(bare)
  local own, best, best_n = 0, nil, 0
  for j = 1, #tally, 2 do
    local n = tonumber(tally[j + 1])
    if tally[j] == kind then own = n
    elseif tally[j] ~= PLAIN and tally[j] ~= GIVEN and n > best_n then best, best_n = tally[j], n end
  end
  local place = kind == 'gpe' or kind == 'loc'
  if not best or (place and best ~= 'person' and best ~= 'gpe' and best ~= 'loc') then return nil end
  local ok
  if string.find(bare, ' ', 1, true) then
    ok = best_n > own
  elseif best == 'person' and place then
    ok = best_n >= 3 and best_n >= 3 * own
  elseif kind == 'person' and (best == 'gpe' or best == 'loc') and own == 0 then
    ok = true  -- a bare name no article called a person before, that earlier ones called a place
  else
    ok = best_n >= 2 and best_n >= 2 * own
  end
  -- one word to a person: only a surname one person has ("soleimani", not "jackson" or "hill")
  if ok and best == 'person' and not string.find(bare, ' ', 1, true) then
    ok = redis.call('HLEN', votes_prefix .. 'person:' .. bare) <= 1
  end
  if ok then return best end
  return nil
end
-- The one person the table knows by a full name ending in `bare` ("person:dale cochran" for "cochran"), or
-- nil when none or two ("smith": many people): the name index lists every key under each tail of its name.
-- A person key shaped like a full name: two to four words of letters, none an institution's ("bibb county
-- coroner", "charlie nye)buy photo" are no one's names).
local function full_name(key)
  local n = 0
  for word in string.gmatch(string.sub(key, 8), '%S+') do
    if INSTITUTION[word] or not string.match(word, "^%a[%a%.'%-]*$") then return false end
    n = n + 1
  end
  return n >= 2 and n <= 4
end
-- Whether a person key's first word is the first name of no other person the table knows: "crime" of
-- "crime stoppers" is no first name.
local function only_given(key)
  local first = string.match(key, '^person:(%S+)')
  return type_count(first, GIVEN) < 2
end
-- Whether a one-word person key is a place's name more likely than anyone's: one article called it a
-- person, no full name the table knows ends with it and no one has it as first name ("person:yorktown"
-- before "gpe:yorktown"; not "Tyler" beside "John Tyler").
-- The keys the name index lists under `term` (a name or a tail of one), at most 20.
local function index_keys(term)
  local keys = {}
  for _, member in ipairs(redis.call('ZRANGEBYLEX', index, '[' .. term .. '\\31', '[' .. term .. '\\31\\255',
                                     'LIMIT', 0, 20)) do
    keys[#keys + 1] = string.sub(member, #term + 2)
  end
  return keys
end
local function lone_person_word(bare)
  local tally = type_tally(bare)
  for j = 1, #tally, 2 do
    if (tally[j] == 'person' and tonumber(tally[j + 1]) > 1) or tally[j] == GIVEN or tally[j] == PLAIN then
      return false
    end
  end
  for _, key in ipairs(index_keys(bare)) do
    if string.sub(key, 1, 7) == 'person:' and key ~= 'person:' .. bare then return false end
  end
  return true
end
local function sole_bearer(bare)
  local found = nil
  local last = ' ' .. bare
  for _, key in ipairs(index_keys(bare)) do
    if string.sub(key, 1, 7) == 'person:' and string.sub(key, -#last) == last and full_name(key) then
      local target = resolve(key)
      if found and found ~= target then return nil end
      found = target
    end
  end
  return found
end
-- Whether no earlier article gave the name `bare` any type but person: a one-word organisation, product,
-- work or group the model made of a surname ("org:cochran" beside the articles' "Dale Cochran") has no
-- evidence of its own.
local function only_a_person_so_far(bare)
  local tally = type_tally(bare)
  for j = 1, #tally, 2 do
    if tally[j] ~= 'person' then return false end
  end
  return true
end
-- File `key` under the person `known` resolves to, when that is a person key and no alias; returns the
-- person key, or nil.
local function onto_person(key, known)
  local target = resolve(known)
  if target ~= key and not is_alias(target) and string.sub(target, 1, 7) == 'person:' then
    point(key, target)
    return target
  end
  return nil
end
-- The other type earlier articles gave the one-word name `bare` at least as often as `kind`, when it is the
-- only other type ("org:conyers" after "person:conyers", "person:mozilla" after "org:mozilla"): the type the
-- name was first filed under keeps it until another type has more articles (the caller files under it only
-- a key never filed itself, and only onto a key that was). Not an alias: each article asks again, so the
-- votes decide and one article never ties a name's type for good. Not a place to any other type (a place
-- becomes a person only by the type repair's evidence, never an organisation), not a word an article wrote
-- in lower case too; someone's first name ("Michael" of "Michael Thomas") only onto the bare word's key.
local function first_type(kind, bare)
  local tally = type_tally(bare)
  local own, other, n_other, given = 0, nil, 0, false
  for j = 1, #tally, 2 do
    local t, n = tally[j], tonumber(tally[j + 1])
    if t == GIVEN then
      given = true
    else
      if t == PLAIN or (t ~= kind and other) then return nil end
      if t == kind then own = n else other, n_other = t, n end
    end
  end
  if not other or n_other < own then return nil end
  if (kind == 'gpe' or kind == 'loc') and other ~= 'gpe' and other ~= 'loc' then return nil end
  if other == 'person' and redis.call('HLEN', votes_prefix .. 'person:' .. bare) > 1 then return nil end
  -- someone's first name ("Michael" of "Michael Thomas"): only onto the bare word itself, never through an
  -- alias to a full name
  if given and redis.call('HEXISTS', aliases, other .. ':' .. bare) == 1 then return nil end
  return other
end
-- one more article filed under `key`, now
local function file_article(key)
  local n = filed_count(redis.call('ZSCORE', filed, key))
  redis.call('ZADD', filed, filed_score(hour, math.min(n + 1, FILED_SPAN - 1)), key)
end
local NOT_PLACES = {org = true, norp = true, product = true, work_of_art = true, event = true, law = true}
local out = {}
for i, item in ipairs(items) do
  local key, name, learn, key_forms, type_votes, retypable = item[1], item[2], item[3], item[4], item[5], item[6]
  local canonical, terminal = resolve(key)
  local new = canonical == key and redis.call('HEXISTS', names, key) == 0
  local mate = item[9]
  if canonical == key and retypable and mate ~= '' then
    -- a one-word name of another type beside the one person of the article who bears it as surname
    -- ("gpe:palin" before "Sarah Palin" in the body): that person, when earlier articles wrote the surname
    -- alone for that very person at least as often as they gave the name this type ("Tyler" the city beside
    -- "John Tyler": no article wrote "Tyler" for him)
    local kind, bare = string.match(key, '^([^:]*):(.*)$')
    local own = type_count(bare, kind)
    local target = resolve(mate)
    local for_mate = tonumber(redis.call('HGET', votes_prefix .. 'person:' .. bare, target) or '0')
    if for_mate >= 1 and for_mate >= own then
      if target ~= key and not is_alias(target) then
        point(key, target)
        canonical = target
      end
    end
  end
  if canonical == key and retypable then
    -- type repair: the type earlier articles gave this name far more often than this one
    local kind, bare = string.match(key, '^([^:]*):(.*)$')
    local best = repaired_type(kind, bare)
    if best then
      local target = resolve(best .. ':' .. bare)
      if target ~= key and not is_alias(target) then
        point(key, target)
        canonical = target
      end
    elseif (NOT_PLACES[kind] or kind == 'person') and not string.find(bare, ' ', 1, true) and not item[11]
        and only_a_person_so_far(bare) then
      -- a surname alone (of any type but a place: "Tyler" the city beside "John Tyler"), in an article
      -- without the full name: the one person the table knows by it ("person:reagan", "org:cochran")
      local target = sole_bearer(bare)
      if target and target ~= key and not is_alias(target) then
        point(key, target)
        canonical = target
      end
    end
  end
  if canonical == key and new and retypable and not item[11] and not string.find(key, ' ', 1, true) then
    local kind, bare = string.match(key, '^([^:]*):(.*)$')
    local first = first_type(kind, bare)
    if first then
      local target = resolve(first .. ':' .. bare)
      if target ~= key and not is_alias(target) and redis.call('HEXISTS', names, target) == 1 then
        canonical = target
      end
    end
  end
  if canonical == key and new then
    -- a spelling of an entity an earlier article named otherwise
    for _, form in ipairs(key_forms) do
      local known = redis.call('HGET', forms, form)
      if known and known ~= key then
        local target = resolve(known)
        if target ~= key and not is_alias(target) then
          point(key, target)
          canonical = target
          break
        end
      end
    end
  end
  if canonical == key and new then
    -- a known person's full name behind words the model glued in front ("te jeremy shockey", "qeshm governor
    -- mehdi irannejad"): the person
    for _, tail in ipairs(item[8]) do
      -- a tail behind no title ('?' in front: "org:victims shane newland") only when the table knows the
      -- tail as a full name whose first word is a first name ("crime" of a junk "crime stoppers" is none)
      local untitled = string.sub(tail, 1, 1) == '?'
      if untitled then tail = string.sub(tail, 2) end
      local target = (redis.call('HEXISTS', names, tail) == 1 or is_alias(tail))
          and (not untitled or (full_name(tail) and not only_given(tail))) and onto_person(key, tail)
      if target then canonical = target; break end
    end
  end
  if canonical == key and new then
    -- a person's full name the model gave another type, with or without a middle name ("org:jason brian
    -- holt", "org:malik cobbs"): the person an earlier article named by that first and last name
    for _, form in ipairs(item[10]) do
      local known = redis.call('HGET', forms, form)
      local target = known and onto_person(key, known)
      if target then canonical = target; break end
    end
  end
  for _, vote in ipairs(type_votes) do vote_type(vote[2], vote[1]) end
  if item[11] then
    -- "Stray Gunfire" tagged PERSON in an article that writes "gunfire": its last word is no surname either
    vote_type(string.match(key, '([^ :]+)$'), PLAIN)
  end
  if new and canonical == key and string.sub(key, 1, 7) == 'person:' and full_name(key) then
    -- a first name ("Michael" of "Michael Thomas") is no one surname: a bare "person:michael" stays as it is;
    -- counted once per person, so "crime" of a "person:crime stoppers" in every article is one vote
    vote_type(string.match(key, '^person:(%S+)'), GIVEN)
  end
  -- every name the article wrote is findable; a reader follows the aliases from the key it points at
  for _, member in ipairs(item[7]) do redis.call('ZADD', index, 0, member) end
  if canonical == key then
    local known = redis.call('HGET', names, key)
    if not known or #name > #known then redis.call('HSET', names, key, name) end
  else
    name = redis.call('HGET', names, canonical) or name
  end
  file_article(canonical)
  terminal = terminal and not is_alias(canonical)
  if terminal then
    for _, form in ipairs(key_forms) do redis.call('HSETNX', forms, form, canonical) end
    for _, alias in ipairs(learn) do
      -- "l. patrick gray" for "l. patrick gray iii": not when articles already name someone so (the father)
      local unsuffixed = string.sub(canonical, 1, #alias + 1) == alias .. ' '
          and SUFFIXES[string.sub(canonical, #alias + 2)] ~= nil
      if alias ~= canonical and not (unsuffixed and redis.call('HEXISTS', names, alias) == 1) then
        local votes = votes_prefix .. alias
        local mine = redis.call('HINCRBY', votes, canonical, 1)
        local current = redis.call('HGET', aliases, alias)
        local theirs = current and tonumber(redis.call('HGET', votes, current) or '0') or 0
        -- Only onto a key that is no alias itself: the table can then never hold a loop.
        if current ~= canonical and mine > theirs then
          redis.call('HSET', aliases, alias, canonical)
          if current then redis.call('SREM', known_prefix .. current, alias) end
          redis.call('SADD', known_prefix .. canonical, alias)
        end
      end
    end
  end
  -- the same repair, backwards: a key of another type an earlier article filed this name under ("org:lohan"
  -- before the articles that call Lohan a person) is filed under this type's key once the votes say so
  -- (after this article's aliases are learned: a second person with that surname blocks it),
  -- so a query by the person finds that article too
  for _, vote in ipairs(type_votes) do
    if vote[3] then
      local t, bare = vote[1], vote[2]
      local tally = type_tally(bare)
      for j = 1, #tally, 2 do
        local k = tally[j]
        local other = k .. ':' .. bare
        if k ~= t and redis.call('HEXISTS', names, other) == 1 and not is_alias(other)
            and (repaired_type(k, bare) == t
                 or (k == 'person' and (t == 'gpe' or t == 'loc') and lone_person_word(bare))) then
          local target = resolve(t .. ':' .. bare)
          if target ~= other and not is_alias(target) then point(other, target) end
        end
      end
    end
  end
  -- the same, backwards: a person's full name files the one-word key of another type that one earlier
  -- article made of the surname ("org:arnette" before "Captain Cliff Arnette"), when the table knows no
  -- other person by that surname and no other article gave the word a type
  if terminal and string.sub(canonical, 1, 7) == 'person:' and not item[11] then
    local bare = string.match(canonical, ' ([^ ]+)$')
    if bare then
      local tally = type_tally(bare)
      local kinds, articles_n = {}, 0
      for j = 1, #tally, 2 do
        if tally[j] ~= 'person' then kinds[#kinds + 1] = tally[j]; articles_n = articles_n + tonumber(tally[j + 1]) end
      end
      local others = {}
      if #kinds == 0 then others = {'person:' .. bare}
      elseif #kinds == 1 and articles_n == 1 and NOT_PLACES[kinds[1]] then others = {kinds[1] .. ':' .. bare} end
      for _, other in ipairs(others) do
        if redis.call('HEXISTS', names, other) == 1 and not is_alias(other) and sole_bearer(bare) == canonical then
          point(other, canonical)
        end
      end
    end
    -- and keys an earlier article glued words in front of this full name ("org:planned parenthood vicki
    -- cowart", "person:receptionist madeline kafoury"): this person
    if full_name(canonical) and not only_given(canonical) then
      local own_name = string.sub(canonical, 8)
      for _, other in ipairs(index_keys(own_name)) do
        local kind = string.match(other, '^([^:]*):')
        if other ~= canonical and kind ~= 'gpe' and kind ~= 'loc' and kind ~= 'fac'
            and string.sub(other, -(#own_name + 1)) == ' ' .. own_name
            and redis.call('HEXISTS', names, other) == 1 and not is_alias(other) then
          point(other, canonical)
        end
      end
    end
  end
  out[i] = {canonical, name}
end
return cjson.encode(out)
"""


# KEYS[1] an older data dir's HASH of one name's type votes, KEYS[2] the name's tally bucket; ARGV[1] the name.
# Adds the old votes to the bucket's tally (before any type voted since: they came first) and deletes the
# HASH; returns 1, or 0 when the HASH is gone (another extractor folded it).
_FOLD_TYPE_VOTES = _TALLY_FORMAT + """
local merged = redis.call('HGETALL', KEYS[1])
if #merged == 0 then return 0 end
local at = {}
for j = 1, #merged, 2 do at[merged[j]] = j end
local since = parsed_tally(redis.call('HGET', KEYS[2], ARGV[1]))
for j = 1, #since, 2 do
  local t, n = since[j], since[j + 1]
  if at[t] then
    merged[at[t] + 1] = tostring(tonumber(merged[at[t] + 1]) + tonumber(n))
  else
    merged[#merged + 1], merged[#merged + 2] = t, n
  end
end
redis.call('HSET', KEYS[2], ARGV[1], encoded_tally(merged))
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS[1] aliases HASH, KEYS[2] names HASH, KEYS[3] forms HASH, KEYS[4] filed ZSET, KEYS[5] name index ZSET.
# ARGV[1] votes key prefix, ARGV[2] known-as key prefix, ARGV[3] type-tally bucket prefix, ARGV[4] the first
# hour kept (an entity last filed before it is forgotten), ARGV[5] JSON [[key, the key it resolves to,
# [name index members], [match forms], [alias keys it may hold votes under], a subscription follows it], ...]
# as the caller read the table, ARGV[6] max hops, ARGV[7] the hour now.
# Forgets each key still last filed before that hour, with every alias resolving to it: what the caller read
# is only where to look (an article may have filed or aliased since), the table itself decides. A key that
# has become an alias leaves the filed set only, unless the key it resolves to was never filed. A key a
# subscription follows is kept and dated now. Returns
# [keys forgotten, stale keys that left the filed set].
_FORGET = _TALLY_FORMAT + _FILED_FORMAT + """
local aliases, names, forms, filed, index = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local votes_prefix, known_prefix, tallies_prefix = ARGV[1], ARGV[2], ARGV[3]
local first_kept = tonumber(ARGV[4])
local items = cjson.decode(ARGV[5])
local max_hops = tonumber(ARGV[6])
local now_hour = tonumber(ARGV[7])
local function lives(key)
  return redis.call('HEXISTS', names, key) == 1 or redis.call('HEXISTS', aliases, key) == 1
      or redis.call('ZSCORE', filed, key) ~= false
end
-- A name's type tally once no key of that name is left: only its votes that are no type (a first name, a
-- word written in lower case) stay, which speak of the word, not of a forgotten entity.
local function settle_tally(bare)
  local bucket = tallies_prefix .. string.sub(redis.sha1hex(bare), 1, 3)
  local raw = redis.call('HGET', bucket, bare)
  if not raw then return end
  local tally, kept = parsed_tally(raw), {}
  for j = 1, #tally, 2 do
    local t = tally[j]
    if t == GIVEN or t == PLAIN then
      kept[#kept + 1], kept[#kept + 2] = t, tally[j + 1]
    elseif lives(t .. ':' .. bare) then
      return
    end
  end
  if #kept == 0 then redis.call('HDEL', bucket, bare) else redis.call('HSET', bucket, bare, encoded_tally(kept)) end
end
local forgotten, dropped = 0, 0
for _, item in ipairs(items) do
  local stale, root = item[1], item[2]
  local score = redis.call('ZSCORE', filed, stale)
  if score and math.floor(tonumber(score) / FILED_SPAN) < first_kept then
    local key = stale
    for _ = 1, max_hops do key = redis.call('HGET', aliases, key) or key end
    if key ~= root then
      -- aliased since the caller read the table: its next sweep reads again
    elseif key ~= stale and redis.call('ZSCORE', filed, key) then
      -- an alias now, of a key articles are filed under: that key's own score keeps it
      redis.call('ZREM', filed, stale)
      dropped = dropped + 1
    elseif item[6] then
      -- a subscription follows it: kept, as if named now
      redis.call('ZADD', filed, filed_score(now_hour, filed_count(score)), stale)
      dropped = dropped + 1
    else
      -- the key, or the key it has become an alias of when no article was filed under that one (a type
      -- repair may point a key at one no article resolved to yet), with every alias resolving to it
      redis.call('ZREM', filed, stale)
      local gone, order, todo = {[key] = true}, {key}, {key}
      for _ = 1, max_hops do
        local found = {}
        for _, target in ipairs(todo) do
          for _, alias in ipairs(redis.call('SMEMBERS', known_prefix .. target)) do
            if not gone[alias] and redis.call('HGET', aliases, alias) == target then
              gone[alias] = true
              order[#order + 1], found[#found + 1] = alias, alias
            end
          end
        end
        todo = found
      end
      for _, k in ipairs(order) do
        redis.call('HDEL', names, k)
        redis.call('ZREM', filed, k)
        redis.call('DEL', known_prefix .. k)
        if k ~= key then
          redis.call('HDEL', aliases, k)
          redis.call('DEL', votes_prefix .. k)
        end
      end
      for _, member in ipairs(item[3]) do
        if gone[string.match(member, '\\31(.*)$')] then redis.call('ZREM', index, member) end
      end
      for _, form in ipairs(item[4]) do
        local owner = redis.call('HGET', forms, form)
        if owner and gone[owner] then redis.call('HDEL', forms, form) end
      end
      local bares = {}
      for _, k in ipairs(order) do bares[#bares + 1] = string.match(k, '^[^:]*:(.*)$') end
      for _, alias in ipairs(item[5]) do
        redis.call('HDEL', votes_prefix .. alias, key)
        bares[#bares + 1] = string.match(alias, '^[^:]*:(.*)$')
      end
      for _, bare in ipairs(bares) do settle_tally(bare) end
      forgotten, dropped = forgotten + 1, dropped + 1
    end
  end
end
return {forgotten, dropped}
"""

# KEYS[1] an older data dir's articles HASH, KEYS[2] the filed ZSET; ARGV[1] the hour now, ARGV[2] JSON
# [entity key, ...]. Moves each key's count from the HASH into the filed ZSET (added to what it has filed
# since, last filed now: older data dirs never said when), once: a field moved is gone from the HASH.
# Returns how many moved.
_FOLD_ARTICLE_COUNTS = _FILED_FORMAT + """
local hour = tonumber(ARGV[1])
local moved = 0
for _, key in ipairs(cjson.decode(ARGV[2])) do
  local n = redis.call('HGET', KEYS[1], key)
  if n then
    redis.call('HDEL', KEYS[1], key)
    local count = filed_count(redis.call('ZSCORE', KEYS[2], key)) + tonumber(n)
    redis.call('ZADD', KEYS[2], filed_score(hour, math.min(count, FILED_SPAN - 1)), key)
    moved = moved + 1
  end
end
return moved
"""


def vote_keys(key: str) -> list[str]:
    """The aliases a person key may hold votes under, as learnable aliases ("person:putin" and
    "person:vladimir putin" for "person:vladimir putin jr."): each tail of its name, with and without its
    generational suffix. [] for other types, whose aliases are any keys and are found by the table only."""
    kind, _, name = key.partition(":")
    words = name.split()
    if kind != "person":
        return []
    forms = [words]
    if len(words) > 2 and words[-1] in _SUFFIXES:
        forms.append(words[:-1])
    out = {f"person:{' '.join(w[i:])}" for w in forms for i in range(len(w))} - {key}
    return sorted(out)


def learnable_aliases(entity: Entity) -> list[str]:
    """The entity's in-article aliases the table may learn (see the module docstring)."""
    kind, _, name = entity.key.partition(":")
    words = name.split()
    out = []
    for alias in entity.aliases:
        alias_kind, _, alias_name = alias.partition(":")
        if alias_kind != kind or not alias_name or alias_name == name:
            continue
        if kind == "person":
            alias_words = alias_name.split()
            unsuffixed = len(words) > 2 and words[-1] in _SUFFIXES and alias_words == words[:-1]
            if not unsuffixed and (len(alias_words) >= len(words) or words[-len(alias_words):] != alias_words):
                continue
        out.append(alias)
    return out


_PLACE_KINDS = frozenset({"gpe", "loc", "fac"})


def person_tails(key: str) -> list[str]:
    """The known person a person key of three or more words may be behind words glued in front, longest
    first: its tails of two words or more ("person:te jeremy shockey" -> "person:jeremy shockey"). Not a
    name of institution words ("person:howard county sheriff" is no sheriff called "county sheriff"), not
    a generational suffix ("michael thomas jr." is no "thomas jr."). A key the model gave another type than
    a place: the tail behind a title or rank ("org:carolina panthers qb cam newton" -> "person:cam
    newton", "work_of_art:baltimore mayor stephanie rawlings-blake"), and, marked '?' for the table to check
    that its first word is a first name the table knows, any other tail of two or three words
    ("?person:shane newland" of "org:victims shane newland"; not "org:broward crime stoppers", whose tail a
    junk person key "crime stoppers" may be: "crime" is no one's first name)."""
    kind, _, name = key.partition(":")
    words = name.split()
    if kind in _PLACE_KINDS or len(words) < 3 or words[-1] in _SUFFIXES:
        return []
    out = []
    for i in range(1, len(words) - 1):
        tail = " ".join(words[i:])
        if not specific(f"org:{tail}"):
            continue
        if kind == "person" or is_title(words[i - 1]):
            out.append(f"person:{tail}")
        elif len(words) - i <= 3 and not is_title(words[i]) and all(_NAME_WORD.match(w) for w in words[i:]):
            out.append(f"?person:{tail}")
    return out


_NAME_WORD = re.compile(r"^[^\W\d_][\w.'-]*$")


def person_forms(key: str) -> list[str]:
    """The person form ("person:jason holt") a key of another type may be a person's full name by: two to four
    name words, no institution word ("org:jason brian holt", "product:ethan payne"; not "org:fire department",
    not "gpe:new york"). [] for a person key, a one-word name, or a country or US state."""
    kind, _, name = key.partition(":")
    words = name.split()
    if (kind == "person" or not 2 <= len(words) <= 4 or not all(_NAME_WORD.match(w) for w in words)
            or institutional(key) or not retypable(key)):
        return []
    form = person_form(name)
    return [f"person:{form}"] if form else []


def _surname_of(key: str) -> str:
    """The last word of a person key of two words or more, a generational suffix passed over ("cochran" for
    "person:douglas cochran jr."); '' for a one-word key."""
    words = key.partition(":")[2].split()
    if len(words) > 2 and words[-1] in _SUFFIXES:
        words = words[:-1]
    return words[-1] if len(words) >= 2 else ""


def surname_mate(entity: Entity, article: Sequence[Entity]) -> str:
    """The one person key of the article whose last word is this one-word, non-person key's name
    ("gpe:palin" beside "person:sarah palin"), or '' (none, two people with that surname, or a "person" made
    of institution words: "florida hospital kissimmee")."""
    kind, _, name = entity.key.partition(":")
    if kind == "person" or not name or " " in name or name in _SUFFIXES:
        return ""
    mates = {e.key for e in article if e.key.startswith("person:") and _surname_of(e.key) == name
             and not institutional(e.key)}
    return mates.pop() if len(mates) == 1 else ""


def type_votes(entity: Entity) -> list[list[str]]:
    """[type, name] pairs the entity votes for: its key's and its learnable aliases' names, its type."""
    kind = entity.key.partition(":")[0]
    names = {entity.key.partition(":")[2], *(a.partition(":")[2] for a in learnable_aliases(entity))}
    return [[kind, n] for n in sorted(names) if n]


def _with_retypable(votes: list[list[str]]) -> list[list[object]]:
    """Each [type, name] vote with whether keys of that name may be re-typed (`retypable`)."""
    return [[kind, name, retypable(f"{kind}:{name}")] for kind, name in votes]


@dataclass(frozen=True)
class AliasCount:
    """An alias of an entity key and the articles that used it for that entity."""

    alias: str
    articles: int


class AliasTable:
    """Entity keys learned across articles, in Redis (sole writer of the entity alias keys)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._script = redis.register_script(_RESOLVE_AND_LEARN)
        self._fold = redis.register_script(_FOLD_TYPE_VOTES)
        self._fold_counts = redis.register_script(_FOLD_ARTICLE_COUNTS)
        self._forget = redis.register_script(_FORGET)

    async def fold_older_type_votes(self) -> int:
        """Fold the per-name type-vote HASHes of an older data dir into the tally buckets; returns how many.

        Runs once per data dir (a marker key says it is done), at the extractor's start; each name is one
        atomic step, so two extractors starting together, or one already resolving articles, count every
        vote once. SCANs the whole keyspace the first time, which on a large old data dir takes a while.
        """
        if await self.redis.exists(self.keys.entity_type_votes_folded):
            return 0
        prefix = self.keys.entity_type_votes_prefix
        folded = 0
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"  # the prefix taken literally
        async for raw in self.redis.scan_iter(match=pattern, count=1000):
            key = str(raw)
            name = key[len(prefix):]
            folded += int(await self._fold(keys=[key, self.keys.entity_type_tally(name)], args=[name]))
        await self.redis.set(self.keys.entity_type_votes_folded, folded)
        return folded

    async def fold_older_article_counts(self, *, now: float | None = None) -> int:
        """Move an older data dir's articles-per-entity HASH into the filed ZSET; returns how many entities.

        Runs at the extractor's start; the old entities count as filed `now` (their last article's time
        was never kept), so they are forgotten one retention later unless an article names them. Each field
        moves once, even with two extractors starting together.
        """
        old = self.keys.entity_articles
        if not await self.redis.exists(old):
            return 0
        hour = int((time.time() if now is None else now) // 3600)
        moved, cursor = 0, 0
        while True:
            cursor, fields = await self.redis.hscan(old, cursor, count=500)
            if fields:
                moved += int(await self._fold_counts(keys=[old, self.keys.entity_filed],
                                                     args=[hour, json.dumps([str(k) for k in fields])]))
            if not cursor:
                return moved

    async def forget_unseen(self, retention_s: float, *, now: float | None = None, batch: int = 200) -> int:
        """Forget the entities no article named for `retention_s` seconds (by the hour): their names, the
        aliases resolving to them, their match forms, name index members, votes and type tallies. Returns
        how many entities were forgotten. An entity a subscription follows (by key) is kept: its aliases are
        what files the next article about it under the key the subscription watches.

        The stories and articles that named them have expired by then (they live `retention_days` from
        their last update too); an entity named again is learned again. Batches of `batch` keys, each
        one atomic step, so articles resolving meanwhile see the table whole.
        """
        clock = time.time() if now is None else now
        first_kept = int((clock - retention_s) // 3600)
        forgotten = 0
        while True:
            stale = [str(k) for k in await self.redis.zrangebyscore(
                self.keys.entity_filed, "-inf", f"({first_kept * FILED_SPAN}", start=0, num=batch)]
            if not stale:
                return forgotten
            items = await self._forget_items(stale)
            done, dropped = await self._forget(
                keys=[self.keys.entity_aliases, self.keys.entity_names, self.keys.entity_forms,
                      self.keys.entity_filed, self.keys.entity_name_index],
                args=[self.keys.entity_alias_votes_prefix, self.keys.entity_known_as_prefix,
                      self.keys.entity_type_tallies_prefix, first_kept, json.dumps(items), MAX_HOPS,
                      int(clock // 3600)])
            forgotten += int(done)
            if not int(dropped):  # every one aliased meanwhile: the next round reads them again
                return forgotten

    async def _forget_items(self, stale: Sequence[str]) -> list[list[object]]:
        """What the forget script is to look at for each stale key: [key, the key it resolves to, name index
        members, match forms, vote keys] of that key and every alias resolving to it, and whether a
        subscription follows it, as Redis reads now (a few round trips for the whole batch)."""
        followed: dict[str, str] = {}
        await self._follow(stale, followed)
        roots = [canonical_key(k, followed) for k in stale]
        trees = await self._alias_trees(roots)
        every = list(dict.fromkeys(node for tree in trees.values() for node in tree))
        names = dict(zip(every, await self.redis.hmget(self.keys.entity_names, every), strict=True))
        # The notifier's index of subscriptions by entity key (read only: another slot, so not in the script).
        async with self.redis.pipeline(transaction=False) as pipe:
            for root in trees:
                pipe.exists(self.keys.subscription_index("ent", root))
            followed_roots = {root for root, n in zip(trees, await pipe.execute(), strict=True) if n}
        items: list[list[object]] = []
        for key, root in zip(stale, roots, strict=True):
            members: list[str] = []
            forms: list[str] = []
            for node in trees[root]:
                name = names[node]
                members += index_members(node, str(name) if name else "")
                form = match_form(node)
                if form:
                    forms.append(form)
            items.append([key, root, list(dict.fromkeys(members)), list(dict.fromkeys(forms)), vote_keys(root),
                          root in followed_roots])
        return items

    @staticmethod
    def _item(entity: Entity, voted: set[tuple[str, str]]) -> list[object]:
        # a name every county has ("Sheriff's Office", "State Police") is no alias of one of them
        learn = [a for a in learnable_aliases(entity) if specific(a)]
        forms: list[str] = []
        for key in (entity.key, *learn) if specific(entity.key) else ():
            form = match_form(key)
            if form and form not in forms:
                forms.append(form)
        # one vote per article and name: a later entity of the article does not repeat it
        votes = [v for v in type_votes(entity) if (v[0], v[1]) not in voted]
        voted.update((v[0], v[1]) for v in votes)
        members = index_members(entity.key, entity.name)
        for alias in learn:
            members += index_members(alias, "")
        return [entity.key, entity.name, learn, forms, _with_retypable(votes), retypable(entity.key), members,
                person_tails(entity.key)]

    async def resolve(self, entities: Sequence[Entity], *, now: float | None = None) -> list[Entity]:
        """An article's entities under the keys the table knows them by, learning its aliases on the way.

        Entities that resolve to one key become one (counts added, earliest position, aliases joined);
        order by first position, as tagged. Each resolved key is filed one article more, last at `now`
        (unix seconds; the clock when None). One Redis round trip.
        """
        if not entities:
            return []
        voted: set[tuple[str, str]] = set()
        items = [[*self._item(e, voted), surname_mate(e, entities), person_forms(e.key), e.plain] for e in entities]
        hour = int((time.time() if now is None else now) // 3600)
        reply = await self._script(
            keys=[self.keys.entity_aliases, self.keys.entity_names, self.keys.entity_forms,
                  self.keys.entity_filed, self.keys.entity_name_index],
            args=[self.keys.entity_alias_votes_prefix, self.keys.entity_known_as_prefix,
                  self.keys.entity_type_tallies_prefix, json.dumps(items), MAX_HOPS, hour])
        resolved: dict[str, Entity] = {}
        for entity, (key, name) in zip(entities, json.loads(reply), strict=True):
            aliases = set(entity.aliases) | ({entity.key} - {key})
            earlier = resolved.get(key)
            if earlier is not None:
                aliases |= set(earlier.aliases)
                entity = entity.model_copy(update={
                    "count": earlier.count + entity.count,
                    "first_position": min(earlier.first_position, entity.first_position)})
            resolved[key] = entity.model_copy(update={"key": key, "name": name, "aliases": sorted(aliases - {key})})
        return sorted(resolved.values(), key=lambda e: (e.first_position, e.key))

    async def aliases_of(self, key: str) -> list[str]:
        """The alias keys that resolve directly to `key`."""
        return sorted(str(a) for a in await self.redis.smembers(self.keys.entity_known_as_prefix + key))

    async def aliases_with_counts(self, key: str) -> list[AliasCount]:
        """What the table learned for `key` (its canonical key is looked up first): each alias resolving
        directly to it with the number of articles that used the alias for it, most used first."""
        key = await self.canonical(key)
        aliases = await self.aliases_of(key)
        counts = [await self.redis.hget(self.keys.entity_alias_votes_prefix + a, key) for a in aliases]
        rows = [AliasCount(a, int(c or 0)) for a, c in zip(aliases, counts, strict=True)]
        return sorted(rows, key=lambda r: (-r.articles, r.alias))

    async def size(self) -> int:
        """Entities the table holds (every key an article was filed under, within the retention)."""
        return int(await self.redis.zcard(self.keys.entity_filed))

    async def articles(self, key: str) -> int:
        """Articles filed under `key` (as resolved when they were tagged)."""
        return filed_articles(await self.redis.zscore(self.keys.entity_filed, key))

    async def canonical(self, key: str) -> str:
        """The key `key` resolves to (itself when it is no alias)."""
        for _ in range(MAX_HOPS):
            target = await self.redis.hget(self.keys.entity_aliases, key)
            if not target or target == key:
                break
            key = str(target)
        return key

    async def display_name(self, key: str) -> str | None:
        """The fullest name an article gave the entity under `key`, or None when it was never recorded."""
        raw = await self.redis.hget(self.keys.entity_names, key)
        return str(raw) if raw else None

    async def _follow(self, keys: Sequence[str], aliases: dict[str, str]) -> None:
        """Read into `aliases` the targets of `keys` and of their targets, MAX_HOPS deep (one HMGET a hop)."""
        todo = [k for k in dict.fromkeys(keys) if k not in aliases]
        for _ in range(MAX_HOPS):
            if not todo:
                break
            found = await self.redis.hmget(self.keys.entity_aliases, todo)
            step = {k: str(t) for k, t in zip(todo, found, strict=True) if t}
            aliases.update(step)
            todo = [t for t in dict.fromkeys(step.values()) if t not in aliases]

    async def _view(self, keys: Sequence[str], forms: Sequence[str]) -> tuple[
            dict[str, str], dict[str, str], dict[str, int], dict[str, str]]:
        """(aliases, names, articles, forms) of the table for `keys` and `forms` and every key they lead to."""
        found_forms: dict[str, str] = {}
        if forms:
            raw = await self.redis.hmget(self.keys.entity_forms, list(forms))
            found_forms = {f: str(k) for f, k in zip(forms, raw, strict=True) if k}
        aliases: dict[str, str] = {}
        await self._follow([*keys, *found_forms.values()], aliases)
        every = list(dict.fromkeys([*keys, *found_forms.values(), *aliases.values()]))
        if not every:
            return aliases, {}, {}, found_forms
        names = await self.redis.hmget(self.keys.entity_names, every)
        scores = await self.redis.zmscore(self.keys.entity_filed, every)
        return (aliases, {k: str(n) for k, n in zip(every, names, strict=True) if n},
                {k: filed_articles(c) for k, c in zip(every, scores, strict=True) if c is not None}, found_forms)

    async def _named(self, term: str, limit: int) -> list[str]:
        """Keys whose name, or a tail of it, is exactly `term` (from the name index)."""
        members = await self.redis.zrangebylex(self.keys.entity_name_index, f"[{term}{INDEX_SEPARATOR}",
                                               f"({term}{chr(ord(INDEX_SEPARATOR) + 1)}", start=0, num=limit)
        return [str(m).partition(INDEX_SEPARATOR)[2] for m in members]

    async def lookup(self, query: str) -> Lookup:
        """The entity `query` names: a key, a full name, a surname or any alias (services.extractor.lookup),
        reading only the keys the query may name (a few round trips, whatever the size of the table)."""
        keys, forms = probe_keys(query)
        surname = surname_probe(query)
        if surname:
            keys += [k for k in await self._named(surname, SEARCH_SCAN) if k.startswith("person:")]
        aliases, names, articles, found_forms = await self._view(keys, forms)
        return lookup(query, aliases=aliases, names=names, articles=articles, forms=found_forms)

    async def entity_key(self, value: str) -> str:
        """The canonical key of the entity `value` (a key or any name) names; `value` unchanged when the table
        knows no entity by it. Raises AmbiguousName (with the candidates) when it names several."""
        found = await self.lookup(value)
        if found.key is not None:
            return found.key
        if found.ambiguous:
            raise AmbiguousName(found)
        return value

    async def keys_of(self, key: str) -> set[str]:
        """`key` and every alias key that resolves to it, directly or over other aliases: the keys an article
        about the entity may carry (one filed before the table learned the alias keeps the alias)."""
        return set((await self._alias_trees([key]))[key])

    async def _alias_trees(self, roots: Sequence[str]) -> dict[str, list[str]]:
        """Each root with every alias key resolving to it (MAX_HOPS deep), root first: one round trip a hop for
        all the roots."""
        trees = {root: [root] for root in roots}
        level = {root: [root] for root in trees}
        for _ in range(MAX_HOPS):
            asked = [(root, node) for root, nodes in level.items() for node in nodes]
            if not asked:
                break
            async with self.redis.pipeline(transaction=False) as pipe:
                for _, node in asked:
                    pipe.smembers(self.keys.entity_known_as_prefix + node)
                replies = await pipe.execute()
            level = {}
            for (root, _), found in zip(asked, replies, strict=True):
                for alias in sorted(str(a) for a in found):
                    if alias not in trees[root]:
                        trees[root].append(alias)
                        level.setdefault(root, []).append(alias)
        return trees

    async def search(self, prefix: str, *, limit: int) -> list[Candidate]:
        """Entities with a name, or a word of it onwards, starting with `prefix` (case-insensitive): the
        most filed first, at most `limit`. Looks at the first SEARCH_SCAN index members in order."""
        text = " ".join(prefix.casefold().split())
        if not text:
            return []
        upper = text[:-1] + chr(ord(text[-1]) + 1)
        members = await self.redis.zrangebylex(self.keys.entity_name_index, f"[{text}", f"({upper}",
                                               start=0, num=SEARCH_SCAN)
        keys = list(dict.fromkeys(str(m).partition(INDEX_SEPARATOR)[2] for m in members))
        aliases, names, articles, _ = await self._view(keys, [])
        found: dict[str, Candidate] = {}
        for key in keys:
            target = canonical_key(key, aliases)
            if target in names or target in articles:
                found.setdefault(target, Candidate(target, names.get(target), articles.get(target, 0)))
        return sorted(found.values(), key=lambda c: (-c.articles, c.key))[:limit]
