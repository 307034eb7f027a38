"""Contacts and groups, through the pages a user fills in."""
import re

import pytest

from webapp.extensions import db
from webapp.models import Contact, ContactGroup, ContactGroupMember
from webapp.services import contacts as contact_service
from webapp.services.contacts import ContactInput

from .conftest import post_form


def add_contact(client, name, number, notes="", **fields):
    data = {"name": name, "number": number, "notes": notes}
    for index, (key, value) in enumerate(fields.items()):
        data[f"extra_fields-{index}-key"], data[f"extra_fields-{index}-value"] = key, value
    return post_form(client, "/contacts/new", data)


def make_contact(user, name, number, **fields) -> Contact:
    contact, problems = contact_service.save_contact(user, ContactInput(name, number, fields))
    assert not problems, problems
    return contact


def make_group(user, name, conditions=None) -> ContactGroup:
    group, problems = contact_service.save_group(user, name, conditions)
    assert not problems, problems
    return group


def names_on(html: str) -> list[str]:
    return re.findall(r'<a href="/contacts/\d+">([^<]+)</a>', html)


def test_a_contact_added_through_the_form_is_stored_in_e164_with_its_fields(logged_in, user):
    response = add_contact(logged_in, "Hélène Dupont", "06 12 34 56 78", notes="Mother of Léo",
                           first_name="Hélène", **{"class": "6B"})
    assert response.status_code == 302
    contact = db.session.query(Contact).one()
    assert (contact.user_id, contact.name, contact.number) == (user.id, "Hélène Dupont", "+33612345678")
    assert contact.fields == {"first_name": "Hélène", "class": "6B"} and contact.notes == "Mother of Léo"
    page = logged_in.get("/contacts/").get_data(as_text=True)
    assert "Hélène Dupont" in page and "+33612345678" in page and "class: 6B" in page


def test_the_same_number_twice_is_refused_with_the_name_it_belongs_to(logged_in, user):
    make_contact(user, "Hélène", "+33612345678")
    response = add_contact(logged_in, "Someone else", "0612345678")
    assert response.status_code == 200
    assert "+33612345678 is already the number of Hélène." in response.get_data(as_text=True)
    assert db.session.query(Contact).count() == 1


def test_an_invalid_number_is_refused_with_the_reason(logged_in):
    response = add_contact(logged_in, "Nobody", "06 12")
    assert "too few or too many digits" in response.get_data(as_text=True)
    assert db.session.query(Contact).count() == 0


@pytest.mark.parametrize("typed, stored", [("0690 12 34 56", "+590690123456"), ("0692 12 34 56", "+262692123456"),
                                           ("0639 69 12 34", "+262639691234")])
def test_french_overseas_numbers_typed_without_country_code_are_accepted(logged_in, typed, stored):
    assert add_contact(logged_in, "Overseas", typed).status_code == 302
    assert db.session.query(Contact).one().number == stored


def test_two_field_rows_with_the_same_name_are_refused(logged_in):
    response = post_form(logged_in, "/contacts/new", {
        "name": "Léo", "number": "0612345678", "extra_fields-0-key": "class", "extra_fields-0-value": "6B",
        "extra_fields-1-key": "Class", "extra_fields-1-value": "5A"})
    assert "Each field name can be used once." in response.get_data(as_text=True)


def test_editing_a_contact_changes_it_and_keeps_its_number_unique(logged_in, user):
    helene = make_contact(user, "Hélène", "+33612345678", **{"class": "6B"})
    make_contact(user, "Léo", "+33698765432")
    page = logged_in.get(f"/contacts/{helene.id}").get_data(as_text=True)
    assert 'value="class"' in page and 'value="6B"' in page
    refused = post_form(logged_in, f"/contacts/{helene.id}", {"name": "Hélène", "number": "0698765432"})
    assert "already the number of Léo" in refused.get_data(as_text=True)
    saved = post_form(logged_in, f"/contacts/{helene.id}", {"name": "Hélène Martin", "number": "0612345678",
                                                            "extra_fields-0-key": "class",
                                                            "extra_fields-0-value": "5A"})
    assert saved.status_code == 302
    db.session.expire_all()
    helene = db.session.get(Contact, helene.id)
    assert helene.name == "Hélène Martin" and helene.fields == {"class": "5A"}
    assert "Martin" in logged_in.get("/contacts/?q=martin").get_data(as_text=True)


@pytest.mark.parametrize("typed", ["Helene", "HÉLÈNE", "hel", "0612 34", "+33612345678", "06 12 34 56 78", "6b"])
def test_search_finds_a_contact_by_name_number_or_field_whatever_the_accents_and_case(logged_in, user, typed):
    make_contact(user, "Hélène Dupont", "+33612345678", **{"class": "6B"})
    make_contact(user, "Bruno", "+33698765432", **{"class": "5A"})
    names = names_on(logged_in.get("/contacts/", query_string={"q": typed}).get_data(as_text=True))
    assert names == ["Hélène Dupont"]


def test_search_that_matches_nothing_says_so(logged_in, user):
    make_contact(user, "Hélène", "+33612345678")
    assert "No contact matches." in logged_in.get("/contacts/?q=zzz").get_data(as_text=True)


def names_on_every_page(client, url) -> list[str]:
    """The names on the page and on those its "Next contacts" link leads to."""
    names = []
    while url:
        html = client.get(url).get_data(as_text=True)
        names += names_on(html)
        more = re.search(r'href="([^"]+)">Next contacts<', html)
        url = more.group(1).replace("&amp;", "&") if more else None
    return names


def test_the_list_pages_by_keyset_in_each_order(logged_in, user, monkeypatch):
    monkeypatch.setattr(contact_service, "PAGE_SIZE", 2)
    for name, number in [("émile", "+33611111115"), ("Bruno", "+33611111113"), ("alice", "+33611111114"),
                         ("Denise", "+33611111111"), ("Chloé", "+33611111112")]:
        make_contact(user, name, number)
    expected = {"name": ["alice", "Bruno", "Chloé", "Denise", "émile"],
                "number": ["Denise", "Chloé", "Bruno", "alice", "émile"],
                "created": ["Chloé", "Denise", "alice", "Bruno", "émile"]}
    for sort, names in expected.items():
        assert names_on_every_page(logged_in, f"/contacts/?sort={sort}") == names, sort
    assert names_on_every_page(logged_in, "/contacts/?sort=name&q=e") == ["alice", "Chloé", "Denise", "émile"]


def test_a_groups_members_are_paged(logged_in, user, monkeypatch):
    monkeypatch.setattr(contact_service, "PAGE_SIZE", 2)
    names = ["alice", "Bruno", "Chloé", "Denise", "émile"]
    contacts = [make_contact(user, name, f"+3361111111{index}", **{"class": "6B"}) for index, name in enumerate(names)]
    chosen = make_group(user, "Choir")
    contact_service.add_members(user, chosen, [contact.id for contact in contacts])
    smart = make_group(user, "6B", [{"field": "class", "operator": "=", "value": "6B"}])
    for group in (chosen, smart):
        assert names_on_every_page(logged_in, f"/contacts/groups/{group.id}") == names, group.name


def test_deleting_a_contact_asks_first(logged_in, user):
    contact = make_contact(user, "Hélène", "+33612345678")
    page = logged_in.get(f"/contacts/{contact.id}/delete").get_data(as_text=True)
    assert "Delete 1 contact?" in page and db.session.query(Contact).count() == 1
    response = post_form(logged_in, f"/contacts/{contact.id}/delete", {})
    assert response.status_code == 302 and db.session.query(Contact).count() == 0


def test_a_selection_is_deleted_after_a_confirmation(logged_in, user):
    kept = make_contact(user, "Kept", "+33611111111")
    doomed = [make_contact(user, f"Doomed {index}", f"+3361111112{index}") for index in range(3)]
    ids = [contact.id for contact in doomed]
    confirm = post_form(logged_in, "/contacts/", {"action": "delete", "contact_ids": ids},
                        action="/contacts/selection")
    html = confirm.get_data(as_text=True)
    assert "Delete 3 contacts?" in html and "Kept" not in html
    assert db.session.query(Contact).count() == 4
    post_form(logged_in, "/contacts/", {"contact_ids": ids}, action="/contacts/delete-selected")
    assert [contact.name for contact in db.session.query(Contact)] == [kept.name]


def test_a_selection_posted_without_the_csrf_token_is_refused(logged_in, user):
    contact = make_contact(user, "Hélène", "+33612345678")
    response = logged_in.post("/contacts/delete-selected", data={"contact_ids": [contact.id]})
    assert response.status_code == 400 and db.session.query(Contact).count() == 1


def test_a_group_is_made_and_filled_from_the_contact_list(logged_in, user):
    created = post_form(logged_in, "/contacts/groups/", {"name": "Parents 6B"})
    assert created.status_code == 302
    group = db.session.query(ContactGroup).one()
    assert not group.is_smart
    refused = post_form(logged_in, "/contacts/groups/", {"name": "Parents 6B"})
    assert "You already have a group named “Parents 6B”." in refused.get_data(as_text=True)
    helene, bruno = make_contact(user, "Hélène", "+33612345678"), make_contact(user, "Bruno", "+33698765432")
    make_contact(user, "Chloé", "+33611111111")
    assert "Parents 6B (0)" in logged_in.get("/contacts/").get_data(as_text=True)
    post_form(logged_in, "/contacts/", {"action": "add", "group_id": group.id, "contact_ids": [helene.id, bruno.id]},
              action="/contacts/selection")
    post_form(logged_in, "/contacts/", {"action": "add", "group_id": group.id, "contact_ids": [helene.id]},
              action="/contacts/selection")  # already in it: nothing doubles
    assert "Parents 6B (2)" in logged_in.get("/contacts/").get_data(as_text=True)
    assert "2 members" in logged_in.get("/contacts/groups/").get_data(as_text=True)
    page = logged_in.get(f"/contacts/groups/{group.id}").get_data(as_text=True)
    assert names_on(page) == ["Bruno", "Hélène"] and "2 members" in page
    assert contact_service.group_numbers(user, group) == ["+33698765432", "+33612345678"]


def test_members_are_added_and_removed_from_the_group_page(logged_in, user):
    group = make_group(user, "Choir")
    helene, bruno = make_contact(user, "Hélène", "+33612345678"), make_contact(user, "Bruno", "+33698765432")
    found = logged_in.get(f"/contacts/groups/{group.id}?add_q=helene").get_data(as_text=True)
    assert names_on(found) == ["Hélène"]
    added = post_form(logged_in, f"/contacts/groups/{group.id}", {
        "action": "add", "group_id": group.id, "from_group": group.id, "contact_ids": [helene.id, bruno.id]},
        action="/contacts/selection")
    assert added.headers["Location"].endswith(f"/contacts/groups/{group.id}")
    assert [c.name for c in contact_service.group_members(user, group)] == ["Bruno", "Hélène"]
    post_form(logged_in, f"/contacts/groups/{group.id}", {"action": "remove", "from_group": group.id,
                                                          "contact_ids": [bruno.id]}, action="/contacts/selection")
    assert [c.name for c in contact_service.group_members(user, group)] == ["Hélène"]
    assert db.session.get(Contact, bruno.id) is not None  # removed from the group, kept as a contact


def test_a_contact_is_in_several_groups_and_deleting_a_group_keeps_its_contacts(logged_in, user):
    helene = make_contact(user, "Hélène", "+33612345678")
    choir, parents = make_group(user, "Choir"), make_group(user, "Parents")
    contact_service.add_members(user, choir, [helene.id])
    contact_service.add_members(user, parents, [helene.id])
    page = logged_in.get(f"/contacts/{helene.id}").get_data(as_text=True)
    assert re.search(r">Choir</a> <span class=\"muted\">1 member<", page) and "Parents" in page
    assert "Its 1 member stays" in logged_in.get(f"/contacts/groups/{choir.id}/delete").get_data(as_text=True)
    post_form(logged_in, f"/contacts/groups/{choir.id}/delete", {})
    assert [group.name for group in contact_service.user_groups(user)] == ["Parents"]
    assert db.session.query(Contact).count() == 1 and db.session.query(ContactGroupMember).count() == 1


def test_deleting_a_contact_takes_it_out_of_its_groups(logged_in, user):
    helene = make_contact(user, "Hélène", "+33612345678")
    group = make_group(user, "Choir")
    contact_service.add_members(user, group, [helene.id])
    post_form(logged_in, f"/contacts/{helene.id}/delete", {})
    assert "0 members" in logged_in.get("/contacts/groups/").get_data(as_text=True)


@pytest.fixture
def pupils(user):
    return [make_contact(user, "Hélène", "+33611111111", **{"class": "6B", "member_since": "2023"}),
            make_contact(user, "Bruno", "+33611111112", **{"class": "6b", "member_since": "2024-09-01"}),
            make_contact(user, "Chloé", "+33611111113", **{"class": "5A", "member_since": "2019"}),
            make_contact(user, "Denise", "+33611111114")]


def smart_group_data(name, *conditions):
    data = {"name": name}
    for index, (field, operator, value) in enumerate(conditions):
        data.update({f"conditions-{index}-field": field, f"conditions-{index}-operator": operator,
                     f"conditions-{index}-value": value})
    return data


@pytest.mark.parametrize("conditions, members", [
    ([("class", "=", "6B")], ["Bruno", "Hélène"]),
    ([("class", "=", "6B"), ("member_since", "<", "2024")], ["Hélène"]),
    ([("member_since", ">", "2020")], ["Bruno", "Hélène"]),
    ([("class", "≠", "6B")], ["Chloé"]),  # Denise has no class: no condition on it holds
    ([("name", "contains", "e")], ["Chloé", "Denise", "Hélène"]),
    ([("Class", "contains", "b")], ["Bruno", "Hélène"]),
])
def test_a_smart_group_holds_the_contacts_that_meet_all_its_conditions(logged_in, user, pupils, conditions, members):
    response = post_form(logged_in, "/contacts/groups/new-smart", smart_group_data("Smart", *conditions))
    assert response.status_code == 302
    group = db.session.query(ContactGroup).one()
    assert group.is_smart
    page = logged_in.get(f"/contacts/groups/{group.id}").get_data(as_text=True)
    assert sorted(names_on(page)) == sorted(members)
    count = f"{len(members)} member" + ("s" if len(members) != 1 else "")
    assert count in page and count in logged_in.get("/contacts/groups/").get_data(as_text=True)
    assert sorted(c.name for c in contact_service.smart_group_members(user, group)) == sorted(members)


def test_a_smart_group_follows_the_contacts_as_they_change(logged_in, user, pupils):
    group = make_group(user, "6B", [{"field": "class", "operator": "=", "value": "6B"}])
    assert len(contact_service.group_members(user, group)) == 2
    make_contact(user, "Émile", "+33611111115", **{"class": "6B"})
    assert "3 members" in logged_in.get(f"/contacts/groups/{group.id}").get_data(as_text=True)


def test_a_smart_group_needs_a_condition_and_shows_a_preview(logged_in, user, pupils):
    refused = post_form(logged_in, "/contacts/groups/new-smart", {"name": "Empty"})
    assert "Give at least one condition" in refused.get_data(as_text=True)
    preview = post_form(logged_in, "/contacts/groups/new-smart",
                        dict(smart_group_data("6B", ("class", "=", "6b")), preview="1"))
    html = preview.get_data(as_text=True)
    assert "2 contacts meet these conditions" in html and db.session.query(ContactGroup).count() == 0


def test_a_smart_group_is_edited(logged_in, user, pupils):
    group = make_group(user, "6B", [{"field": "class", "operator": "=", "value": "6B"}])
    page = logged_in.get(f"/contacts/groups/{group.id}/edit").get_data(as_text=True)
    assert 'value="class"' in page and 'value="6B"' in page
    post_form(logged_in, f"/contacts/groups/{group.id}/edit", smart_group_data("5A", ("class", "=", "5A")))
    db.session.expire_all()
    assert [c.name for c in contact_service.group_members(user, db.session.get(ContactGroup, group.id))] == ["Chloé"]


def test_a_group_is_renamed(logged_in, user):
    group = make_group(user, "Choir")
    make_group(user, "Parents")
    refused = post_form(logged_in, f"/contacts/groups/{group.id}/edit", {"name": "Parents"})
    assert "already have a group named" in refused.get_data(as_text=True)
    post_form(logged_in, f"/contacts/groups/{group.id}/edit", {"name": "Choir 2027"})
    assert "Choir 2027" in logged_in.get("/contacts/groups/").get_data(as_text=True)


def test_the_contact_pages_speak_french(logged_in, user):
    user.locale = "fr"
    db.session.commit()
    make_contact(user, "Hélène", "+33612345678")
    assert "Ajouter un contact" in logged_in.get("/contacts/").get_data(as_text=True)
    assert "Nouveau groupe intelligent" in logged_in.get("/contacts/groups/").get_data(as_text=True)


@pytest.mark.parametrize("conditions", [
    [("class", "=", "6b")], [("member_since", "=", "2024.0")], [("member_since", "=", "2024")],
    [("name", "contains", "HELENE")], [("name", "contains", "%")], [("class", "contains", "")],
    [("class", "≠", "5A"), ("name", "contains", "o")], [("member_since", "<", "2024-01")],
])
def test_a_smart_group_read_narrowed_by_the_search_text_has_the_members_of_every_contact_checked(user, conditions):
    """The tuned path (the database keeps only contacts whose search text holds the value) against
    the plain one (every contact checked)."""
    for name, number, fields in [("Hélène", "+33611111111", {"class": "6B", "member_since": "2024"}),
                                 ("Bruno 100%", "+33611111112", {"class": "6b", "member_since": "2024.0"}),
                                 ("Chloé", "+33611111113", {"Class": "5A", "member_since": "2023-06-01"}),
                                 ("Léon", "+33611111114", {})]:
        make_contact(user, name, number, **fields)
    typed = [{"field": field, "operator": operator, "value": value} for field, operator, value in conditions]
    every_contact = db.session.query(Contact).order_by(Contact.sort_name).all()
    expected = [contact.name for contact in every_contact if contact_service.meets_all(contact, typed)]
    assert [contact.name for contact in contact_service.smart_group_members(user, typed)] == expected


TOO_LARGE = "99999999999999999999999"


def test_ids_and_arguments_no_contact_can_have_answer_404_or_are_ignored(logged_in, user):
    contact = make_contact(user, "Hélène", "+33612345678")
    group = make_group(user, "Choir")
    for path in (f"/contacts/{TOO_LARGE}", f"/contacts/{TOO_LARGE}/delete", f"/contacts/groups/{TOO_LARGE}",
                 f"/contacts/groups/{2**31}/edit"):
        assert logged_in.get(path).status_code == 404, path
    for path in (f"/contacts/?after={TOO_LARGE}", "/contacts/?after=-1", "/contacts/?sort=id;drop", "/contacts/?q=%00",
                 "/contacts/?q=%25", f"/contacts/groups/{group.id}?after={TOO_LARGE}&add_q=h%00"):
        assert logged_in.get(path).status_code == 200, path
    refused = post_form(logged_in, "/contacts/", {"action": "add", "group_id": TOO_LARGE, "contact_ids": [contact.id]},
                        action="/contacts/selection")
    assert refused.status_code == 400
    ignored = post_form(logged_in, "/contacts/", {"action": "add", "group_id": group.id,
                                                  "contact_ids": [TOO_LARGE, "²", contact.id]},
                        action="/contacts/selection")
    assert ignored.status_code == 302 and len(contact_service.group_members(user, group)) == 1


def test_a_nul_typed_in_a_contact_is_dropped(logged_in):
    """PostgreSQL cannot store one."""
    response = add_contact(logged_in, "Hél\x00ène", "0612345678", notes="a\x00b", **{"cla\x00ss": "6\x00B"})
    assert response.status_code == 302
    contact = db.session.query(Contact).one()
    assert (contact.name, contact.notes, contact.fields) == ("Hélène", "ab", {"class": "6B"})
