import pytest

from releases.scenario import Walker, new_release


@pytest.mark.django_db
@pytest.mark.parametrize("release_type", ["minor", "major", "emergency"])
def test_walk_to_closed(actors, cis, release_type):
    release = new_release(actors, release_type=release_type, cis=cis)
    release = Walker(release, actors).to("closed")
    assert release.state == "closed"
