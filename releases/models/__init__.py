from .audit import *  # noqa: F401,F403
from .records import *  # noqa: F401,F403
from .release import *  # noqa: F401,F403
from .task import *  # noqa: F401,F403
from .template import *  # noqa: F401,F403
from .standard import *  # noqa: F401,F403
