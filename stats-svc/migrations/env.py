from stats.models import Base
from stats.settings import Settings

from services import migrations

migrations.run(Base.metadata, Settings().database_url)
